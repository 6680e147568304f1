"""The APScheduler set-up and its jobs. Jobs only read the clock and call domain services."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from domain import intake, updates
from domain.clock import Clock

log = logging.getLogger(__name__)


@dataclass
class Heartbeat:
    """When the tick last finished: /healthz reads it."""

    last_tick: datetime | None = None
    ticks: int = 0
    errors: int = field(default=0)


async def tick(settings, clock: Clock, heartbeat: Heartbeat) -> None:
    now = clock.now()
    try:
        await updates.forget_old(now)
        closed = await intake.close_expired(now, settings.reopen_window)
        if closed:
            log.info("closed %d resolved incidents past REOPEN_WINDOW", closed)
    except Exception:
        heartbeat.errors += 1
        log.exception("scheduler tick failed")
        return
    heartbeat.last_tick, heartbeat.ticks = clock.now(), heartbeat.ticks + 1


def build_scheduler(settings, clock: Clock, heartbeat: Heartbeat) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    # misfire_grace_time=None: a late tick (a busy loop, a suspended VM) still runs instead of being
    # skipped; coalesce folds a backlog of missed ticks into one run; one instance at a time.
    scheduler.add_job(
        tick, "interval", seconds=settings.scheduler_tick.total_seconds(), args=(settings, clock, heartbeat),
        id="tick", misfire_grace_time=None, coalesce=True, max_instances=1, next_run_time=clock.now(),
    )
    return scheduler
