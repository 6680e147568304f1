"""Once-only duties across restarts and instances: a handover, a day's gap warning, a period's report.

The work is written to the outbox with unique keys first and the duty is marked done after, so a crash
in between repeats the (idempotent) writing instead of skipping the duty.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

from tortoise.exceptions import IntegrityError

from domain.models import JobClaim


async def done(key: str) -> bool:
    return await JobClaim.exists(key=key)


async def mark_done(key: str, now: datetime) -> None:
    with suppress(IntegrityError):  # another instance finished it too: both wrote the same unique rows
        await JobClaim.create(key=key, claimed_at=now)
