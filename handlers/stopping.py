"""Waiting that gives way to a requested stop: the polling loops (Telegram's, MAX's) and their backoffs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def sleep_unless(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep; True when a stop was requested meanwhile."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
        return True
    except TimeoutError:
        return False


async def unless_stopped(work: Awaitable, stopping: asyncio.Event) -> asyncio.Future | None:
    """Run `work` until it finishes or a stop is requested, whichever comes first: the finished task (its
    `result()` raises what the work raised), or None when the stop came first and the work was cancelled."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if not task.done():
        task.cancel()
        return None
    return task
