"""Each Telegram update is handled once, even when it reaches two instances or arrives twice.

An instance claims the update id before handling it (`handling`), and marks it `done` after. A second
delivery finds the claim and is skipped. If the handler fails, the claim is released so a redelivery
is handled; if the process dies mid-way, the claim goes stale after STALE and a redelivery takes it
over: an update is retried, never dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from domain.models import ProcessedUpdate

KEEP = timedelta(days=3)
STALE = timedelta(minutes=2)


async def claim(update_id: int, now: datetime) -> bool:
    """True when this caller must handle the update."""
    try:
        await ProcessedUpdate.create(update_id=update_id, state="handling", handled_at=now)
        return True
    except IntegrityError:
        pass
    taken = await ProcessedUpdate.filter(update_id=update_id, state="handling",
                                         handled_at__lt=now - STALE).update(handled_at=now)
    return bool(taken)


async def finish(update_id: int, now: datetime) -> None:
    await ProcessedUpdate.filter(update_id=update_id).update(state="done", handled_at=now)


async def release(update_id: int) -> None:
    await ProcessedUpdate.filter(update_id=update_id, state="handling").delete()


async def release_unfinished() -> int:
    """Polling runs one instance: claims left `handling` at start belong to a process that died."""
    return await ProcessedUpdate.filter(state="handling").delete()


async def forget_old(now: datetime) -> int:
    return await ProcessedUpdate.filter(handled_at__lt=now - KEEP).delete()
