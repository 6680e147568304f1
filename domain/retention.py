"""Retention: what the desk stops keeping after a while (SPEC section 9).

Delivered, dropped and failed outbox rows (report PNGs with them), parked updates a lead replayed or
dismissed, used or expired invitations, the
records of done periodic duties (claims) and the unbound inbox are deleted once older than their
retention; the unbound inbox is also capped per chat, newest kept, since any stranger can fill it by
adding the bot to groups. Incidents, their messages and events are the record and are never touched.

Rows go in batches, each its own short statement, so a first clean-up of a large backlog never holds
SQLite's write lock (or PostgreSQL row locks) for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from domain.models import Invitation, JobClaim, Outbox, ParkedUpdate, UnboundConversation, UnboundMessage

DAY = timedelta(days=1)
# Once-only duties are re-checked for at most a day (a report's grace), so a claim must outlive that.
SHORTEST = DAY
BATCH = 1000
FINISHED = ("sent", "dropped", "failed")  # pending and sending rows are owed: never deleted


@dataclass(frozen=True)
class Retention:
    outbox: timedelta = timedelta(days=30)
    invitations: timedelta = timedelta(days=30)
    claims: timedelta = timedelta(days=30)
    unbound: timedelta = timedelta(days=30)
    unbound_per_chat: int = 200


async def _purge(query: QuerySet, key: str = "id") -> int:
    """Delete what `query` finds, BATCH rows per statement."""
    removed = 0
    while True:
        keys = await query.limit(BATCH).values_list(key, flat=True)
        if not keys:
            return removed
        removed += await query.model.filter(**{f"{key}__in": list(keys)}).delete()
        if len(keys) < BATCH:
            return removed


async def cap_unbound_chat(conversation_id: int, keep: int) -> int:
    """Keep only the newest `keep` messages of one unbound conversation."""
    mine = UnboundMessage.filter(conversation_id=conversation_id)
    oldest_kept = await mine.order_by("-id").offset(keep - 1).limit(1).values_list("id", flat=True)
    if not oldest_kept:
        return 0  # not over the cap
    return await UnboundMessage.filter(conversation_id=conversation_id, id__lt=oldest_kept[0]).delete()


async def clean(now: datetime, retention: Retention) -> dict[str, int]:
    """Delete what is past its retention; returns how many rows went, by kind."""
    removed = {}
    removed["outbox"] = await _purge(Outbox.filter(status__in=FINISHED, created_at__lt=now - retention.outbox))
    cut = now - retention.invitations
    removed["invitations"] = await _purge(Invitation.filter(
        Q(used_at__lt=cut) | Q(used_at__isnull=True, expires_at__lt=cut)))
    # A parked update a lead replayed or dismissed is done with: it goes with the delivered notices.
    removed["parked"] = await _purge(ParkedUpdate.filter(status__in=("replayed", "dismissed"),
                                                         resolved_at__lt=now - retention.outbox))
    removed["claims"] = await _purge(JobClaim.filter(claimed_at__lt=now - retention.claims), key="key")
    cut = now - retention.unbound
    removed["unbound"] = await _purge(UnboundMessage.filter(received_at__lt=cut))
    # Intake caps each chat as messages come; this catches chats from before the cap was lowered.
    crowded = (UnboundMessage.annotate(n=Count("id")).group_by("conversation_id")
               .filter(n__gt=retention.unbound_per_chat).values_list("conversation_id", flat=True))
    for conversation_id in await crowded:
        removed["unbound"] += await cap_unbound_chat(conversation_id, retention.unbound_per_chat)
    # A conversation with nothing left to show goes too; its next message starts it again.
    removed["unbound_chats"] = await _purge(UnboundConversation.filter(first_seen__lt=cut).exclude(
        id__in=Subquery(UnboundMessage.all().values("conversation_id"))))
    return removed
