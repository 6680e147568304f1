"""Each update is handled once, even when it reaches two instances or arrives twice.

An instance claims the update id before handling it (`handling`), and marks it `done` after. A second
delivery finds the claim and is skipped. If the handler fails, the claim is released so a redelivery
is handled; if the process dies mid-way, the claim goes stale after STALE and a redelivery takes it
over: an update is retried, never dropped.

A polling instance is the only one taking updates, so nobody can be handling the same update at the
same time: it checks for a `done` row before handling and writes it after (one write, not two). A
crash between the work and that row is the same window as with a claim: the update is handled again
after the restart (intake's unique message key makes that a no-op for customer messages).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from domain.models import ChannelCursor, ProcessedUpdate

KEEP = timedelta(days=3)
STALE = timedelta(minutes=2)


class InHandElsewhere(Exception):
    """Another instance claimed the update and has not finished it (it may have died): not handled here,
    and not to be confirmed either, so that Telegram delivers it again."""


def channel_key(channel: str, ref: str) -> int:
    """The ledger id of another channel's update, named by the channel's own reference of it (a MAX
    message's `mid`, a button press's `callback_id`): negative, so never a Telegram update id (those are
    positive), and 60 bits of a hash, so two references of one channel meet by chance about never."""
    digest = hashlib.sha256(f"{channel}:{ref}".encode(errors="surrogatepass")).digest()  # a ref may hold half an emoji
    return -(int.from_bytes(digest[:8], "big") >> 4) - 1


async def cursor(channel: str) -> int | None:
    """Where the channel's long polling goes on from (None: it never took an update)."""
    return await ChannelCursor.filter(channel=channel).first().values_list("position", flat=True)


async def move_cursor(channel: str, position: int, now: datetime) -> None:
    """Every update before `position` was handled: the next start asks from there."""
    async with in_transaction():
        if not await ChannelCursor.filter(channel=channel).update(position=position, updated_at=now):
            await ChannelCursor.create(channel=channel, position=position, updated_at=now)


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


async def handled(update_id: int) -> bool:
    return await ProcessedUpdate.exists(update_id=update_id, state="done")


async def handled_among(update_ids: list[int]) -> set[int]:
    """Which of these updates were handled already (one query)."""
    return set(await ProcessedUpdate.filter(update_id__in=update_ids, state="done").values_list("update_id",
                                                                                                flat=True))


async def record_many(update_ids: list[int], now: datetime) -> None:
    """Sole instance: these updates were handled (one multi-row insert; run it in their transaction)."""
    await ProcessedUpdate.bulk_create([ProcessedUpdate(update_id=i, state="done", handled_at=now) for i in update_ids])


async def record(update_id: int, now: datetime) -> None:
    """Sole instance: the update was handled."""
    try:
        await ProcessedUpdate.create(update_id=update_id, state="done", handled_at=now)
    except IntegrityError:  # a claim left by an earlier webhook run
        await finish(update_id, now)


async def finish(update_id: int, now: datetime) -> None:
    await ProcessedUpdate.filter(update_id=update_id).update(state="done", handled_at=now)


async def release(update_id: int) -> None:
    await ProcessedUpdate.filter(update_id=update_id, state="handling").delete()


async def release_unfinished() -> int:
    """Polling runs one instance: claims left `handling` at start belong to a process that died."""
    return await ProcessedUpdate.filter(state="handling").delete()


async def forget_old(now: datetime) -> int:
    return await ProcessedUpdate.filter(handled_at__lt=now - KEEP).delete()


async def mark_done(update_id: int, now: datetime) -> None:
    """The update is done with (handled, or set aside), whether or not a claim was left for it; no
    IntegrityError, so it may run inside a larger transaction on PostgreSQL too."""
    if not await ProcessedUpdate.filter(update_id=update_id).update(state="done", handled_at=now):
        await ProcessedUpdate.create(update_id=update_id, state="done", handled_at=now)
