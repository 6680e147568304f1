"""attack6 (issue #16): where the desk's own Ticker differs from the APScheduler job it replaced.

APScheduler 3 ran the tick through `run_coroutine_job`, which catches `BaseException` from the job: a
`CancelledError` raised *inside* a tick (not a cancel of the loop) was logged and the next tick still came.
"""

import asyncio
import contextlib
from datetime import timedelta

from scheduler.ticker import Ticker

HOUR = timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Job:
    """Run 1 raises what `first` gives and runs past its slot (so run 2 is due at once)."""

    def __init__(self, time: Clock, first: BaseException) -> None:
        self.time, self.first, self.runs = time, first, 0
        self.changed = asyncio.Event()

    async def __call__(self) -> None:
        self.runs += 1
        self.time.now += 2 * HOUR.total_seconds()
        self.changed.set()
        if self.runs == 1:
            raise self.first


async def _second_run_or_end(job: Job, ticker: Ticker) -> None:
    """Wait (on conditions, not time) until run 2 started or the ticker's loop ended."""
    async def watch():
        while job.runs < 2 and not ticker.task.done():
            job.changed.clear()
            waiter = asyncio.ensure_future(job.changed.wait())
            await asyncio.wait({waiter, ticker.task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
    await asyncio.wait_for(watch(), 30)


async def after_a_leaked_cancel() -> tuple[Job, Ticker]:
    """A ticker whose first tick raised CancelledError (a timeout deep in a driver leaking a cancel), once its
    second tick has started or its loop has ended."""
    time = Clock()
    job = Job(time, asyncio.CancelledError("a timeout deep in a driver leaked a cancel"))
    ticker = Ticker(job, HOUR, monotonic=time)
    ticker.start()
    await _second_run_or_end(job, ticker)
    return job, ticker


async def test_a_cancelled_error_from_inside_a_tick_does_not_end_the_ticks():
    job, ticker = await after_a_leaked_cancel()
    try:
        assert job.runs >= 2, "no tick after the first: SLA pings and handovers stop until restart"
    finally:
        ticker.stopping.set()
        await asyncio.gather(ticker.task, return_exceptions=True)


async def test_a_stop_after_a_cancelled_tick_returns_normally():
    _, ticker = await after_a_leaked_cancel()
    stopped = False
    try:
        await ticker.stop()
        stopped = True
    except asyncio.CancelledError:
        pass
    assert stopped, "Ticker.stop() raised CancelledError: Background.stop skips the courier and the leader"


async def test_a_second_start_does_not_run_two_ticks_at_once():
    time = Clock()
    release, started = asyncio.Event(), asyncio.Event()
    running = most = 0

    async def job():
        nonlocal running, most
        running += 1
        most = max(most, running)
        started.set()
        try:
            await release.wait()
        finally:
            running -= 1

    ticker = Ticker(job, HOUR, monotonic=time)
    ticker.start()
    first = ticker.task
    with contextlib.suppress(RuntimeError):  # refusing the second start is a fine answer
        ticker.start()
    await asyncio.wait_for(started.wait(), 30)
    for _ in range(50):  # let the other loop (if any) reach its tick
        await asyncio.sleep(0)
    release.set()
    await ticker.stop()
    await asyncio.gather(first, return_exceptions=True)
    assert most == 1, "two ticks ran at once: pings owed twice, claims raced"
