"""Parked updates: an update that cannot be handled now is kept, never dropped, and never holds the desk.

Two ways in: an update this version cannot read at all (`unparseable`: Telegram added or changed a
field), and one whose handling kept failing for longer than the retry budget (`failing`). Either is
stored whole with its error, the leads are told once per row (the outbox's dedupe key), and a lead
replays it (it is fed through the dispatcher again) or dismisses it. Rows are kept as the record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from tortoise.transactions import in_transaction

from domain.errors import DeskError, Named
from domain.models import ParkedUpdate
from domain.text import clean

WAITING = ("parked", "replaying")
ERROR_LIMIT = 2000

Tell = Callable[[ParkedUpdate], Awaitable[None]]


async def park(payload: str, *, update_id: int | None, chat_id: int | None, reason: str, error: str,
               now: datetime, tell: Tell | None = None, channel: str = "telegram") -> tuple[ParkedUpdate, bool]:
    """Keep the update; `tell` owes the leads' notices in the same transaction. Parking the same update
    again (redelivered after a crash before it was confirmed) returns the row already kept, and False."""
    async with in_transaction():
        if update_id is not None:
            kept = await ParkedUpdate.filter(update_id=update_id, status__in=WAITING).first()
            if kept is not None:
                return kept, False
        row = await ParkedUpdate.create(update_id=update_id, chat_id=chat_id, payload=clean(payload), channel=channel,
                                        error=clean(error)[:ERROR_LIMIT], reason=reason, parked_at=now)
        if tell is not None:
            await tell(row)
    return row, True


async def waiting() -> list[ParkedUpdate]:
    return await ParkedUpdate.filter(status__in=WAITING).order_by("id")


async def count_waiting() -> int:
    return await ParkedUpdate.filter(status__in=WAITING).count()


async def waiting_by_channel() -> list[tuple[str, int]]:
    """How many updates wait for a lead, per channel they came from (Telegram's first, then by name)."""
    channels = await ParkedUpdate.filter(status__in=WAITING).values_list("channel", flat=True)
    counts: dict[str, int] = {}
    for channel in channels:
        counts[channel] = counts.get(channel, 0) + 1
    return sorted(counts.items(), key=lambda item: (item[0] != "telegram", item[0]))


async def take_for_replay(row_id: int) -> ParkedUpdate:
    """Mark the row as being replayed; only one lead replays it at a time."""
    row = await _waiting_row(row_id)
    if row.channel != "telegram":  # another channel's update (a MAX one set aside) is not the dispatcher's
        raise DeskError("gapsm.replay_elsewhere", id=row_id, channel=Named("desk.channel", row.channel))
    if not await ParkedUpdate.filter(id=row.id, status="parked").update(status="replaying"):
        raise DeskError("liveness.replay_busy", id=row_id)
    return row


async def replayed(row: ParkedUpdate, by: int, now: datetime) -> None:
    await ParkedUpdate.filter(id=row.id).update(status="replayed", resolved_at=now, resolved_by=by)


async def replay_failed(row: ParkedUpdate, error: str) -> None:
    """Still failing: parked again, with the newest error."""
    await ParkedUpdate.filter(id=row.id).update(status="parked", error=error[:ERROR_LIMIT])


async def dismiss(row_id: int, by: int, now: datetime) -> ParkedUpdate:
    row = await _waiting_row(row_id)
    if not await ParkedUpdate.filter(id=row.id, status="parked").update(status="dismissed", resolved_at=now,
                                                                         resolved_by=by):
        raise DeskError("liveness.replay_busy", id=row_id)
    return row


async def release_replaying() -> int:
    """At start: a replay cut short by a stop or a crash is waiting again."""
    return await ParkedUpdate.filter(status="replaying").update(status="parked")


async def _waiting_row(row_id: int) -> ParkedUpdate:
    row = await ParkedUpdate.get_or_none(id=row_id)
    if row is None or row.status not in WAITING:
        raise DeskError("liveness.no_such_parked", id=row_id)
    return row
