"""A graceful stop (SIGTERM) while a scheduler tick is in hand: the tick finishes and nothing is logged as an
error (issue 14: APScheduler's shutdown cancelled the job it was running; the desk's own ticker waits for it)."""

import asyncio
import logging
from datetime import timedelta

from bot.app import Background
from scheduler.jobs import Heartbeat, Tick
from scheduler.ticker import Ticker
from tests.clock import FrozenClock


class SlowLeader:
    """A leader check that takes until the test lets it go: the tick is in hand meanwhile."""

    def __init__(self) -> None:
        self.asked, self.answer = asyncio.Event(), asyncio.Event()

    async def holds(self) -> bool:
        self.asked.set()
        await self.answer.wait()
        return False  # another instance runs the jobs: the tick ends there, done

    async def close(self) -> None:
        pass


async def test_a_stop_during_a_tick_lets_it_finish_and_logs_no_error(caplog):
    caplog.set_level(logging.INFO)
    clock, heartbeat, leader = FrozenClock(), Heartbeat(), SlowLeader()
    tick = Tick(None, clock, None, heartbeat, leader)
    background = Background.__new__(Background)  # only what `stop` touches: the ticker, its tick, no courier
    background.ticker, background.tick, background.leader = Ticker(tick.run, timedelta(minutes=1)), tick, leader
    background.stopping, background.task = asyncio.Event(), None
    background.ticker.start()
    await asyncio.wait_for(leader.asked.wait(), 30)
    stopping = asyncio.create_task(background.stop())
    for _ in range(20):  # a cancellation of the tick in hand would be delivered meanwhile
        await asyncio.sleep(0)
    assert not stopping.done()  # the stop waits for the tick in hand
    leader.answer.set()
    await asyncio.wait_for(stopping, 30)
    assert heartbeat.last_tick is not None  # the tick finished
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
