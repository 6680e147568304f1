"""The desk's own periodic loop (issue #16: APScheduler's imports cost about 1 MB): the first tick at once,
then one per interval; a tick that overran is followed at once by exactly one more, never a burst; a failing
tick does not stop the ticks; a stop waits for the tick in hand and starts no new one. The pure tests use a
loop time the test moves (`FakeTime`) so no test sleeps through an interval; the last one runs the real
tick on the database through `Background`."""

import asyncio
import logging
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.app import Background
from domain import intake
from scheduler.ticker import Ticker

HOUR = timedelta(hours=1)


class FakeTime:
    """The loop's monotonic time as the ticker reads it, moved by the test (the real wait between ticks is
    then as long as an hour: only a stop ends it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Job:
    """Counts its runs; each run may move the time, raise, or wait for the test to let it go."""

    def __init__(self, time: FakeTime | None = None) -> None:
        self.time, self.started, self.finished = time, 0, 0
        self.takes: dict[int, float] = {}  # run number → how long it takes, in loop seconds
        self.fails: set[int] = set()
        self.held: dict[int, asyncio.Event] = {}  # run number → the event it waits for
        self.running = self.most_at_once = 0
        self.changed = asyncio.Condition()

    async def __call__(self) -> None:
        self.started += 1
        run = self.started
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            if run in self.held:
                await self.held[run].wait()
            if self.time is not None:
                self.time.now += self.takes.get(run, 1.0)
            if run in self.fails:
                raise RuntimeError(f"run {run} broke")
        finally:
            self.running -= 1
            self.finished += 1
            async with self.changed:
                self.changed.notify_all()

    async def wait_for(self, predicate) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), 30)


async def settle() -> None:
    """Let every task that can run do so (a burst of back-to-back ticks would show meanwhile)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_the_first_tick_comes_at_once_and_the_next_one_waits_for_its_slot():
    time = FakeTime()
    job = Job(time)
    ticker = Ticker(job, HOUR, monotonic=time)
    ticker.start()
    await job.wait_for(lambda: job.finished == 1)
    await settle()
    assert job.started == 1  # a tick of a second leaves its slot an hour away: nothing more yet
    await ticker.stop()
    assert job.started == 1


async def test_ticks_follow_each_other_on_a_short_interval():
    job = Job()
    ticker = Ticker(job, timedelta(milliseconds=5))
    ticker.start()
    await job.wait_for(lambda: job.finished >= 3)
    await ticker.stop()
    assert job.most_at_once == 1


async def test_a_tick_that_overran_is_followed_at_once_by_exactly_one_more():
    time = FakeTime()
    job = Job(time)
    job.takes[1] = 3.5 * 3600  # the first tick runs past three and a half slots
    ticker = Ticker(job, HOUR, monotonic=time)
    ticker.start()
    await job.wait_for(lambda: job.finished == 2)  # the next comes at once, not an hour later
    await settle()
    assert job.started == 2  # the missed slots folded into one run: no burst
    assert job.most_at_once == 1
    await ticker.stop()


async def test_a_tick_just_within_its_slot_does_not_bring_the_next_one_forward():
    time = FakeTime()
    job = Job(time)
    job.takes[1] = HOUR.total_seconds() - 1.0
    ticker = Ticker(job, HOUR, monotonic=time)
    ticker.start()
    await job.wait_for(lambda: job.finished == 1)
    await settle()
    assert job.started == 1  # one more second to wait
    await ticker.stop()


async def test_a_failing_tick_is_logged_with_its_traceback_and_the_ticks_go_on(caplog):
    caplog.set_level(logging.INFO)
    job = Job()
    job.fails.update({1, 2})
    ticker = Ticker(job, timedelta(milliseconds=5), name="tick")
    ticker.start()
    await job.wait_for(lambda: job.finished >= 3)
    await ticker.stop()
    failures = [r for r in caplog.records if r.name == "scheduler.ticker" and r.levelno == logging.ERROR]
    assert len(failures) == 2 and all(r.exc_info for r in failures)
    assert "run 1 broke" in caplog.text and "run 2 broke" in caplog.text and "Traceback" in caplog.text


async def test_a_stop_waits_for_the_tick_in_hand_and_starts_no_new_one():
    time = FakeTime()
    job = Job(time)
    job.held[1] = asyncio.Event()
    job.takes[1] = 5 * 3600  # when it is let go, five slots have passed: without the stop one would follow
    ticker = Ticker(job, HOUR, monotonic=time)
    ticker.start()
    await job.wait_for(lambda: job.started == 1)
    stopping = asyncio.create_task(ticker.stop())
    await settle()
    assert not stopping.done()  # the tick in hand is not cancelled: the stop waits for it
    job.held[1].set()
    await asyncio.wait_for(stopping, 30)
    assert job.finished == 1 and job.started == 1
    await settle()
    assert job.started == 1


async def test_a_stop_between_ticks_ends_the_wait():
    time = FakeTime()
    job = Job(time)
    ticker = Ticker(job, timedelta(days=1), monotonic=time)
    ticker.start()
    await job.wait_for(lambda: job.finished == 1)
    await asyncio.wait_for(ticker.stop(), 30)  # not a day later
    assert ticker.task.done() and job.started == 1


def test_the_running_bot_does_not_import_apscheduler():
    code = "import sys, bot.__main__, bot.app; print('apscheduler' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_interval_must_be_positive():
    async def job() -> None:
        pass
    with pytest.raises(ValueError):
        Ticker(job, timedelta(0))


async def test_the_desk_ticks_on_the_database_through_a_failure_and_stops(desk, monkeypatch, caplog):
    """The real tick, run by `Background` on the test's database (SQLite or PostgreSQL, with its lease):
    a tick that fails is logged and counted, the next one runs, and after a stop none does."""
    caplog.set_level(logging.INFO)
    closing = intake.close_expired
    calls = 0

    async def close_expired_once_broken(now, window):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the database went away for a moment")
        await closing(now, window)

    monkeypatch.setattr(intake, "close_expired", close_expired_once_broken)
    settings = replace(desk.settings, scheduler_tick=timedelta(milliseconds=10))
    background = Background(desk.bot, desk.dp, settings, desk.clock)
    background.start(sole_instance=True)
    try:
        for _ in range(3000):
            if background.heartbeat.errors == 1 and background.heartbeat.ticks >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await background.stop()
    assert background.heartbeat.errors == 1 and background.heartbeat.ticks >= 2
    assert background.heartbeat.last_tick == desk.clock.now()
    assert "scheduler tick failed" in caplog.text and "the database went away" in caplog.text
    assert background.ticker.task.done()
    ticks = background.heartbeat.ticks
    await asyncio.sleep(0.05)  # five intervals: a tick that still ran would show
    assert background.heartbeat.ticks == ticks == calls - 1
