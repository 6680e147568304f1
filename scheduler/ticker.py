"""The desk's own periodic loop: it runs the scheduler's tick on the event loop.

The desk has one periodic job, so it keeps this loop instead of APScheduler, whose imports (multiprocessing,
tzlocal, a process pool) cost the running bot about 1 MB of resident memory (issue #16).

Its guarantees are APScheduler's for that job (`misfire_grace_time=None`, `coalesce=True`,
`max_instances=1`): the first run at start, then one every `every`; never two at once; a run that overran
one slot or many is followed at once by exactly one more (a late run still runs, missed ones fold into it);
an exception (a cancel leaked from inside the job too) is logged with its traceback and the next run still
comes; a second `start` is refused. Intervals are counted in the event loop's monotonic time, not the
injected clock: a test moving the desk's clock does not make it catch up, and a wall-clock jump does not
stall it. A stop starts no new run and waits for the one in hand, which is never cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, job: Callable[[], Awaitable[None]], every: timedelta, name: str = "tick",
                 monotonic: Callable[[], float] | None = None) -> None:
        """`monotonic`: the time intervals are counted in, in seconds; the running loop's by default."""
        if every <= timedelta(0):
            raise ValueError(f"{name}: the interval must be positive, not {every}")
        self.job, self.every, self.name, self.monotonic = job, every.total_seconds(), name, monotonic
        self.stopping = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        if self.task is not None:  # a second loop would run a second tick beside the first
            raise RuntimeError(f"{self.name}: already started")
        self.task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """No new run starts; the one in hand finishes first."""
        self.stopping.set()
        if self.task is not None:
            await self.task

    async def _loop(self) -> None:
        time = self.monotonic or asyncio.get_running_loop().time
        due = time()
        while not self.stopping.is_set():
            try:
                await self.job()
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise  # the loop itself is cancelled (the event loop is closing)
                # Leaked from inside the job (a driver's timeout, say): one failed run, not the end of them.
                log.exception("%s was cancelled from inside; the next one still comes", self.name)
            except Exception:  # the job's own fault: the next run may well succeed
                log.exception("%s failed", self.name)
            due += self.every
            ahead = due - time()
            if ahead <= 0:  # the run overran its slot(s): one more at once, the schedule counts from here
                due = time()
                await asyncio.sleep(0)  # let others run between back-to-back runs
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), ahead)
