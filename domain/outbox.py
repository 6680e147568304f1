"""The outbox: every notification the bot owes is a row first and a Telegram call second.

Rows are written in the transaction of the change that causes them, claimed one at a time with a
conditional UPDATE (so two dispatchers never take the same row), and marked sent, dropped or failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import F, Subquery
from tortoise.transactions import in_transaction

from domain.models import Conversation, Incident, Outbox, Staff

RANK_PING = 0  # pings, reminders, breaches: ahead of everything
RANK_NOTICE = 1  # customer notices, escalations, handovers, announcements
RANK_REPORT = 2  # periodic reports
STUCK_AFTER = timedelta(minutes=2)
# A row that rewrites a message sent earlier (its id in `reply_to`), as the pings once someone took the incident.
EDIT = "edit"
PING_KINDS = ("new", "reminder", "breach", "repeat")


async def enqueue(chat_id: int, text: str, now: datetime, *, kind: str, rank: int = RANK_NOTICE,
                  markup: dict[str, Any] | None = None, reply_to: int | None = None, incident_id: int | None = None,
                  drop_if_answered: bool = False, fallback: bool = False, dedupe: str | None = None,
                  photo: bytes | None = None, thread_id: int | None = None) -> None:
    """Owe a message (or a photo with `text` as its caption), in a forum topic when `thread_id` is given.
    With `dedupe`, a second row with the same key is silently not written. A text of any length may be
    owed: the dispatcher sends it in parts that fit."""
    row = Outbox(kind=kind, rank=rank, chat_id=chat_id, text=text, markup=markup, reply_to=reply_to, photo=photo,
                 thread_id=thread_id, incident_id=incident_id, drop_if_answered=drop_if_answered, fallback=fallback,
                 dedupe=dedupe, due_at=now, created_at=now)
    await Outbox.bulk_create([row], ignore_conflicts=True)


async def claim(now: datetime, limit: int, skip_chats: set[int]) -> list[Outbox]:
    """Take up to `limit` due rows, pings first; rows for chats that must wait (pacing) are left.

    On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED, so instances claiming at the
    same moment take different rows; the conditional UPDATE keeps a row single on SQLite too.
    """
    claimed = []
    async with in_transaction():
        due = Outbox.filter(status="pending", due_at__lte=now)
        if skip_chats:  # chats that must wait are left out of the query: a flooded chat must not starve the rest
            due = due.exclude(chat_id__in=list(skip_chats))
        candidates = await due.order_by("rank", "id").limit(limit * 4).select_for_update(skip_locked=True)
        for row in candidates:
            if row.chat_id in skip_chats or len(claimed) >= limit:
                continue
            taken = await Outbox.filter(id=row.id, status="pending").update(
                status="sending", claimed_at=now, attempts=F("attempts") + 1
            )
            if taken:
                row.status, row.attempts = "sending", row.attempts + 1
                claimed.append(row)
                skip_chats = skip_chats | {row.chat_id}  # one message per chat per round keeps the order
    return claimed


# What only staff may read (customers' problem texts, the desk's state): never sent to someone who left.
STAFF_ONLY = frozenset({"new", "reminder", "breach", "repeat", "escalation", "handover", "gaps"})


async def pointless(row: Outbox) -> str | None:
    """Why a row lost its point before it was sent (None: send it). A reminder for an incident someone has
    responded to; anything for staff eyes owed to a person who has since left the staff."""
    if row.kind in STAFF_ONLY and row.chat_id > 0 and not await Staff.exists(user_id=row.chat_id, active=True):
        return "the recipient is no longer staff"
    if row.incident_id is not None and row.chat_id < 0:
        # One query: the chat is bound, and to another customer than the incident's.
        owner = Subquery(Incident.filter(id=row.incident_id).values("customer_id"))
        bound = Conversation.filter(channel="telegram", ref=str(row.chat_id), customer_id__isnull=False)
        if await bound.exclude(customer_id=owner).exists():
            return "the chat belongs to another customer now"  # never one customer's words in another's chat
    if row.drop_if_answered and row.incident_id is not None and \
            await Incident.filter(id=row.incident_id, responded_at__isnull=False).exists():
        return "answered before it was sent"
    return None


async def mark_sent(row: Outbox, message_id: int | None, now: datetime) -> None:
    await Outbox.filter(id=row.id).update(status="sent", sent_at=now, message_id=message_id)


async def mark_dropped(row: Outbox, reason: str) -> None:
    await Outbox.filter(id=row.id).update(status="dropped", error=reason[:500])


async def mark_failed(row: Outbox, reason: str) -> None:
    await Outbox.filter(id=row.id).update(status="failed", error=reason[:500])


async def retry_later(row: Outbox, due_at: datetime, reason: str, **changes: Any) -> None:
    await Outbox.filter(id=row.id).update(status="pending", due_at=due_at, error=reason[:500], **changes)


async def part_sent(row: Outbox, message_id: int, rest: str) -> None:
    """A part of a long row went out: the row now holds only what is still owed (no photo, no reply: the
    first part carried them), so a retry or a restart sends the rest and never a part twice."""
    await Outbox.filter(id=row.id).update(text=rest, photo=None, reply_to=None, message_id=message_id)
    row.text, row.photo, row.reply_to, row.message_id = rest, None, None, message_id


async def release_stuck(now: datetime, sole_instance: bool = False) -> int:
    """Rows left `sending` by a process that died are sent again: a missed ping is worse than a repeat
    in the narrow window between Telegram accepting a message and the row being marked sent.

    A sole instance (polling) knows at start that every such row is a dead process's; several instances
    wait STUCK_AFTER, as a live one may be sending it right now."""
    rows = Outbox.filter(status="sending")
    if not sole_instance:
        rows = rows.filter(claimed_at__lt=now - STUCK_AFTER)
    return await rows.update(status="pending")


async def reroute(row: Outbox, targets: list[int], notes: dict[int, str], now: datetime,
                  keep_buttons: bool = True) -> None:
    """A notice that cannot be delivered goes to the staff chat and the leads instead, each with a note in
    the reader's language saying whose it was. A customer chat's buttons (priority, rating) mean nothing
    elsewhere: `keep_buttons=False` leaves them off."""
    for chat_id in targets:
        if chat_id != row.chat_id:
            await enqueue(chat_id, f"{notes[chat_id]}\n\n{row.text}", now, kind=row.kind, rank=row.rank,
                          markup=row.markup if keep_buttons else None,
                          incident_id=row.incident_id, drop_if_answered=row.drop_if_answered,
                          dedupe=f"reroute:{row.id}:{chat_id}")


async def backlog(now: datetime) -> tuple[int, datetime | None]:
    """Pending rows and the oldest one's creation time (for /metrics)."""
    pending = Outbox.filter(status__in=("pending", "sending"))
    oldest = await pending.order_by("created_at").first()
    return await pending.count(), oldest.created_at if oldest else None


async def sent_pings(incident_id: int) -> list[Outbox]:
    """Every copy of the incident's pings Telegram accepted, with where it is (chat and message id)."""
    return await Outbox.filter(incident_id=incident_id, kind__in=PING_KINDS, status="sent",
                               message_id__isnull=False).order_by("id")
