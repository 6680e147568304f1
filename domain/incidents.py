"""What staff and customers do with incidents: respond, take, resolve, reopen, prioritize, assign, note,
rate; and the lists and the card. Every change writes an IncidentEvent in the same transaction."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from domain import alerts, invitations
from domain.errors import DeskError, Named
from domain.intake import OPEN, incident_of_message
from domain.models import Conversation, Incident, IncidentEvent, IncidentMessage, Staff
from domain.policy import PRIORITIES
from domain.sla import Sla

KEY = re.compile(r"^[A-Za-z0-9_]{2,16}-\d{1,9}$")
NOTE_LIMIT = 3500
SUMMARY_LIMIT = 3000


def looks_like_key(word: str) -> bool:
    return bool(KEY.match(word))


def belongs(incident: Incident, chat: Conversation | None) -> bool:
    """The one rule for "this chat's incidents": an incident belongs to the chat it was opened in only while
    that chat's customer is the incident's customer. A chat unbound, or bound to another customer since, keeps
    the old customer's incidents in its history, but none of them is its own: nothing of them is shown, taken,
    resolved or answered from there. `of_chat` is the same rule as a query."""
    return (chat is not None and chat.customer_id is not None and incident.conversation_id == chat.id
            and incident.customer_id == chat.customer_id)


async def of_chat(conversation_id: int | None) -> QuerySet[Incident]:
    """The incidents that `belongs` gives the conversation (none for one bound to nobody, or none at all)."""
    chat = await Conversation.get_or_none(id=conversation_id) if conversation_id else None
    if chat is None or chat.customer_id is None:
        return Incident.filter(id__in=[])
    return Incident.filter(conversation_id=chat.id, customer_id=chat.customer_id)


async def by_key(key: str, only_chat: int | None = None) -> Incident:
    """The incident with this KEY. With `only_chat` (a conversation id: a command typed in a customer's
    chat) it must be that conversation's (`belongs`): another's is refused with the same answer whether it
    exists or not, so nothing leaks."""
    incident = await Incident.get_or_none(key=key.upper()).select_related("customer")
    if only_chat is not None and (incident is None
                                  or not belongs(incident, await Conversation.get_or_none(id=only_chat))):
        raise DeskError("access.other_chat_incident", key=key.upper())
    if incident is None:
        raise DeskError("err.unknown_incident", key=key.upper())
    return incident


async def target(key: str | None, conversation_id: int | None, reply_to: str | None) -> Incident:
    """The incident a staff command means: its KEY, else the replied-to incident, else the conversation's
    only open one (`conversation_id` None: typed where no conversation is). Found from the chat, it must be
    the chat's (`belongs`): a reply to a message of the customer the chat belonged to before is refused."""
    if key:
        return await by_key(key)
    if conversation_id is None:
        raise DeskError("err.no_open_incident")
    replied = await incident_of_message(conversation_id, reply_to)
    if replied is not None:
        return await by_key(replied.key, only_chat=conversation_id)
    open_here = await (await of_chat(conversation_id)).filter(status__in=OPEN).limit(2)
    if len(open_here) == 1:
        return await by_key(open_here[0].key)
    raise DeskError("err.need_key" if open_here else "err.no_open_incident")


async def _event(incident: Incident, actor_id: int | None, kind: str, now: datetime, **data) -> None:
    await IncidentEvent.create(incident=incident, at=now, actor_id=actor_id, kind=kind, data=data)


async def _reload(incident: Incident) -> Incident:
    return await Incident.get(id=incident.id).select_related("customer")


@dataclass(frozen=True)
class TakeResult:
    incident: Incident
    taken: bool  # False: somebody else had it already
    holder_id: int | None


async def first_response(incident: Incident, staff_id: int, now: datetime, how: str) -> bool:
    """Stop the reaction timer with this staff member's response; False if it had stopped already.

    The conditional UPDATE makes the first responder win even when two respond at once.
    """
    stopped = await Incident.filter(id=incident.id, responded_at__isnull=True).update(
        responded_at=now, responded_by=staff_id, next_due_at=None
    )
    if stopped:
        await _event(incident, staff_id, "responded", now, how=how)
    await Incident.filter(id=incident.id, status="new").update(status="in_progress")
    await Incident.filter(id=incident.id, assignee_id__isnull=True).update(assignee_id=staff_id)
    return bool(stopped)


async def staff_message(incident: Incident, staff_id: int, author: str, conversation_id: int, ref: str,
                        text: str, attachments: list, now: datetime) -> None:
    """A staff member's plain message in the customer's conversation answers the incident."""
    async with in_transaction():
        await IncidentMessage.get_or_create(
            conversation_id=conversation_id, ref=ref,
            defaults={"incident": incident, "author_id": staff_id, "author": author[:256], "source": "staff",
                      "text": text, "attachments": attachments, "sent_at": now},
        )
        await Incident.filter(id=incident.id).update(last_activity_at=now)
        await first_response(incident, staff_id, now, "message")


REPLY_LIMIT = 3500


async def answer(incident: Incident, staff_id: int, author: str, text: str, ref: str, now: datetime,
                 owe: Notice) -> Incident:
    """A staff member's answer written away from the customer (/reply in their private chat): stored as their
    message of the incident and counted as the response, exactly as a message in the customer's chat is;
    `owe` writes the intent that carries it to the customer on the incident's channel, in the same
    transaction. `ref` names the answer (the command's message), so a retried update answers once."""
    text = text.strip()
    if not text:
        raise DeskError("reply.no_text", key=incident.key)
    if len(text) > REPLY_LIMIT:
        raise DeskError("err.too_long", limit=REPLY_LIMIT)
    if incident.status not in OPEN:
        raise DeskError("err.not_open", key=incident.key, status=Named("state", incident.status))
    await invitations.refuse_live_code(text, now, "burn.answer_refused", key=incident.key)
    async with in_transaction():
        await staff_message(incident, staff_id, author, incident.conversation_id, ref, text, [], now)
        await owe(incident)
    return await _reload(incident)


async def awaiting_response(conversation_id: int, topic: str | None) -> Incident | None:
    """The chat's own (`of_chat`) newest incident still awaiting its first response."""
    found = (await of_chat(conversation_id)).filter(status="new", responded_at__isnull=True, topic=topic)
    return await found.order_by("-last_activity_at", "-id").first()


Notice = Callable[[Incident], Awaitable[None]]


async def take(incident: Incident, staff_id: int, now: datetime, on_taken: Notice | None = None) -> TakeResult:
    """Assign to the first who takes it; `on_taken` owes the customer's notice in the same transaction."""
    async with in_transaction():
        if incident.status not in OPEN:
            raise DeskError("err.not_open", key=incident.key, status=Named("state", incident.status))
        claimed = await Incident.filter(id=incident.id).filter(assignee_id__isnull=True).update(assignee_id=staff_id)
        current = await _reload(incident)
        if not claimed and current.assignee_id != staff_id:
            # Already someone's: a late Take does not steal it (use /assign to hand it over).
            return TakeResult(current, False, current.assignee_id)
        await first_response(incident, staff_id, now, "take")
        await _event(incident, staff_id, "taken", now)
        taken = await _reload(incident)
        if on_taken is not None:
            await on_taken(taken)
        return TakeResult(taken, True, staff_id)


async def resolve(incident: Incident, staff_id: int, summary: str, now: datetime,
                  on_resolved: Notice | None = None) -> Incident:
    if len(summary) > SUMMARY_LIMIT:
        raise DeskError("err.too_long", limit=SUMMARY_LIMIT)
    await invitations.refuse_live_code(summary, now, "leak.resolve_refused", key=incident.key)  # the customer reads it
    async with in_transaction():
        updated = await Incident.filter(id=incident.id, status__in=OPEN).update(
            status="resolved", resolved_at=now, summary=summary
        )
        if not updated:
            raise DeskError("err.not_open", key=incident.key, status=Named("state", incident.status))
        await first_response(incident, staff_id, now, "resolve")
        await Incident.filter(id=incident.id).update(status="resolved")
        await _event(incident, staff_id, "resolved", now, summary=summary)
        resolved = await _reload(incident)
        if on_resolved is not None:
            await on_resolved(resolved)
    return resolved


async def reopen(incident: Incident, actor_id: int, now: datetime, on_reopened: Notice | None = None) -> Incident:
    """Staff reopen a resolved or closed incident; `on_reopened` owes the customer's notice with it."""
    async with in_transaction():
        updated = await Incident.filter(id=incident.id, status__in=("resolved", "closed")).update(
            status="in_progress", resolved_at=None, closed_at=None, last_activity_at=now
        )
        if not updated:
            raise DeskError("err.already_open", key=incident.key)
        await _event(incident, actor_id, "reopened", now)
        reopened = await _reload(incident)
        if on_reopened is not None:
            await on_reopened(reopened)
    return reopened


async def set_priority(incident: Incident, priority: str, actor_id: int, now: datetime, sla: Sla) -> Incident:
    priority = priority.upper()
    if priority not in PRIORITIES:
        raise DeskError("err.bad_priority", value=priority)
    if incident.status not in OPEN:
        raise DeskError("err.not_open", key=incident.key, status=Named("state", incident.status))
    if incident.priority == priority:
        return incident
    async with in_transaction():
        # The deadline is recomputed from the incident's start, as if it had had this priority all along.
        deadline = sla.deadline(incident.plan, priority, incident.opened_at)
        await Incident.filter(id=incident.id).update(priority=priority, deadline=deadline)
        await alerts.reschedule(incident.id, sla)
        await _event(incident, actor_id, "priority", now, old=incident.priority, new=priority)
    return await _reload(incident)


async def assign(incident: Incident, staff_id: int, actor_id: int, now: datetime) -> Incident:
    if not await Staff.exists(user_id=staff_id, active=True):
        raise DeskError("err.not_staff", ref=staff_id)
    if incident.status not in OPEN:
        raise DeskError("err.not_open", key=incident.key, status=Named("state", incident.status))
    async with in_transaction():
        await Incident.filter(id=incident.id).update(assignee_id=staff_id)
        await _event(incident, actor_id, "assigned", now, to=staff_id)
    return await _reload(incident)


EXPERT_ROLES = ("architect", "developer")


async def escalate(incident: Incident, role: str, note: str, actor_id: int, now: datetime,
                   owe: Callable[[int], Awaitable[None]]) -> list[int]:
    """Notify every staff member of the role (`owe` writes each notice) and record the escalation."""
    role = role.lower()
    if role not in EXPERT_ROLES:
        raise DeskError("usage.escalate")
    if len(note) > NOTE_LIMIT:
        raise DeskError("err.too_long", limit=NOTE_LIMIT)
    experts = sorted(await Staff.filter(role=role, active=True).values_list("user_id", flat=True))
    if not experts:
        raise DeskError("err.no_experts", role=role)
    async with in_transaction():
        await _event(incident, actor_id, "escalated", now, role=role, note=note)
        for user_id in experts:
            await owe(user_id)
    return experts


async def note(incident: Incident, text: str, actor_id: int, now: datetime) -> None:
    if len(text) > NOTE_LIMIT:
        raise DeskError("err.too_long", limit=NOTE_LIMIT)
    await _event(incident, actor_id, "note", now, text=text)


async def rate(incident_id: int, user_id: int, stars: int, now: datetime) -> Incident:
    """The customer's rating, once per incident (the conditional UPDATE keeps the first)."""
    incident = await Incident.get_or_none(id=incident_id).select_related("customer")
    if incident is None:
        raise DeskError("err.button_stale")
    if not 1 <= stars <= 5:
        raise DeskError("err.bad_button")
    if incident.status not in ("resolved", "closed"):  # an old notice's stars while it is open again
        raise DeskError("err.rate_when_resolved", key=incident.key)
    async with in_transaction():
        updated = await Incident.filter(id=incident.id, rating__isnull=True,
                                        status__in=("resolved", "closed")).update(rating=stars)
        if not updated:
            raise DeskError("err.already_rated", key=incident.key)
        await _event(incident, user_id, "rated", now, stars=stars)
    return await _reload(incident)


PRIORITY_ORDER = {p: i for i, p in enumerate(PRIORITIES)}


def most_urgent_first(incidents: list[Incident]) -> list[Incident]:
    """Incidents still waiting for a response, nearest deadline first; then the answered ones by priority."""
    def urgency(i: Incident) -> tuple:
        waiting = i.responded_at is None
        return (0 if waiting else 1, i.deadline if waiting and i.deadline else i.opened_at,
                PRIORITY_ORDER[i.priority], i.opened_at)
    return sorted(incidents, key=urgency)


async def replan(customer_id: int, plan: str, sla: Sla, now: datetime) -> int:
    """A customer's plan changed: its open incidents take the new plan and deadline."""
    changed = 0
    async with in_transaction():
        for incident in await Incident.filter(customer_id=customer_id, status__in=OPEN).exclude(plan=plan):
            deadline = sla.deadline(plan, incident.priority, incident.opened_at)
            await Incident.filter(id=incident.id).update(plan=plan, deadline=deadline)
            await alerts.reschedule(incident.id, sla)
            await _event(incident, None, "plan", now, old=incident.plan, new=plan)
            changed += 1
    return changed


async def recompute_deadlines(sla: Sla, batch: int = 500) -> int:
    """At start, after a policy change: open incidents get deadlines from the policy in force. It reads only
    the columns a deadline comes from, a batch at a time (no incident objects: 100,000 open ones cost
    about 3 MB less), and writes a deadline only where the plan and priority are still the ones it was
    computed from: another instance on the same database may be handling updates meanwhile, and an
    incident it changed got its deadline from the same policy there."""
    changed, last_id = 0, 0
    while True:
        rows = await (Incident.filter(status__in=OPEN, id__gt=last_id).order_by("id").limit(batch)
                      .values_list("id", "plan", "priority", "opened_at", "deadline"))
        if not rows:
            return changed
        for incident_id, plan, priority, opened_at, old in rows:
            deadline = sla.deadline(plan, priority, opened_at)
            if old != deadline and await Incident.filter(id=incident_id, plan=plan, priority=priority,
                                                         status__in=OPEN).update(deadline=deadline):
                await alerts.reschedule(incident_id, sla)
                changed += 1
        last_id = rows[-1][0]


async def open_incidents(customer_code: str | None = None, with_conversation: bool = False) -> list[Incident]:
    query = Incident.filter(status__in=OPEN).select_related("customer")
    if with_conversation:  # the channel each came by (the desk page)
        query = query.select_related("conversation")
    if customer_code:
        query = query.filter(customer__code=customer_code.upper())
    return most_urgent_first(await query)


async def mine(staff_id: int, only_chat: int | None = None) -> list[Incident]:
    query = Incident.filter(status__in=OPEN, assignee_id=staff_id) if only_chat is None else (
        (await of_chat(only_chat)).filter(status__in=OPEN, assignee_id=staff_id))
    return most_urgent_first(await query.select_related("customer"))


async def in_chat(conversation_id: int) -> list[Incident]:
    """The conversation's open incidents: only its own (`of_chat`), of the customer it belongs to now."""
    found = (await of_chat(conversation_id)).filter(status__in=OPEN)
    return most_urgent_first(await found.select_related("customer"))


async def history(incident: Incident) -> tuple[list[IncidentEvent], list[IncidentMessage]]:
    events = await IncidentEvent.filter(incident_id=incident.id).order_by("at", "id")
    messages = await IncidentMessage.filter(incident_id=incident.id).order_by("sent_at", "id")
    return events, messages
