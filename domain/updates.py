"""Which Telegram updates were handled, so an update delivered twice changes nothing the second time.

An update is recorded after its handler finished: if the process dies in between, Telegram delivers it
again and it is handled again, which intake absorbs through its unique message key. Recording before
handling would instead lose that update.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from domain.models import ProcessedUpdate

KEEP = timedelta(days=3)


async def seen_before(update_id: int) -> bool:
    return await ProcessedUpdate.exists(update_id=update_id)


async def mark_handled(update_id: int, now: datetime) -> None:
    # Handled twice concurrently: both runs were idempotent where it matters, keep one row.
    with suppress(IntegrityError):
        await ProcessedUpdate.create(update_id=update_id, handled_at=now)


async def forget_old(now: datetime) -> int:
    return await ProcessedUpdate.filter(handled_at__lt=now - KEEP).delete()
