"""Intake: a customer's message joins an incident or opens one (SPEC section 3).

How a message is threaded, in order:
1. `/new` always opens a new incident.
2. A reply to a message of an incident (the customer's, staff's or the bot's) joins that incident;
   if it was resolved within REOPEN_WINDOW it is reopened; a reply to a closed one (or one resolved
   longer ago) opens a new incident: it is about that old problem, not whatever else is open now.
3. In a forum topic, the topic's open incident with the latest activity.
4. Otherwise the chat's open incident (same topic or none) with activity within THREAD_WINDOW.
5. Otherwise a new incident.

Among open incidents with the same latest activity the newest (highest id) wins, so the choice is the
same on every database.

Everything happens in one transaction per message, which first takes the conversation's turn
(`domain.serial`): two messages of one chat reaching two instances at once are threaded one after the
other, so the second finds the incident the first opened. The (conversation, ref) unique key makes the
same message seen twice a no-op, and the customer's counter row is locked while a key is taken, so
keys are gap-free even when many chats of one customer write at once.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from domain import serial
from domain.alerts import due_for_stage
from domain.identities import any_conversation, normalize_ref
from domain.inbox import IncomingMessage
from domain.models import Conversation, Customer, Incident, IncidentEvent, IncidentMessage
from domain.priority import classify
from domain.sla import Sla
from domain.text import has_words, shown

OPEN = ("new", "in_progress")
TITLE_LIMIT = 120
LATEST = ("-last_activity_at", "-id")  # ties broken by the newest incident, the same on every database


@dataclass(frozen=True)
class Windows:
    thread: timedelta
    reopen: timedelta


@dataclass(frozen=True)
class IntakeResult:
    incident: Incident | None
    created: bool = False
    reopened: bool = False
    duplicate: bool = False


def title_of(msg: IncomingMessage) -> str:
    # The first line with words in it, as staff see it (no bidi controls turning it around).
    first_line = next((line for line in (shown(raw).strip() for raw in msg.text.splitlines()) if has_words(line)), "")
    if first_line:
        return first_line[:TITLE_LIMIT]
    kinds = ", ".join(a["kind"] for a in msg.attachments)
    return f"[{kinds}]" if kinds else "[…]"


async def first_customer_message(incident_id: int) -> IncidentMessage | None:
    """The message that opened the incident: the problem as the customer put it, and where to link."""
    return await (IncidentMessage.filter(incident_id=incident_id, source="customer").order_by("id").first()
                  .select_related("conversation"))


async def customer_message_count(incident_id: int) -> int:
    return await IncidentMessage.filter(incident_id=incident_id, source="customer").count()


async def incident_of_message(conversation_id: int, ref: str | None) -> Incident | None:
    """The incident of the message with this reference in this conversation."""
    if ref is None:
        return None
    row = await IncidentMessage.get_or_none(conversation_id=conversation_id, ref=ref).select_related("incident")
    return row.incident if row else None


async def _thread(msg: IncomingMessage, chat: Conversation, windows: Windows,
                  now: datetime, continues: Incident | None = None) -> tuple[Incident | None, bool]:
    """The incident this message continues, and whether it must be reopened. Only the incidents of the
    customer the conversation belongs to now: one unbound and bound to another customer starts afresh.
    `continues` is an incident the channel found itself (a mail's `[KEY]` or threading headers): it is
    treated as the one replied to."""
    customer_id = chat.customer_id
    replied = continues or await incident_of_message(chat.id, msg.reply_to)
    if replied is not None and replied.customer_id != customer_id:
        replied = None
    if replied is not None:
        if replied.status in OPEN:
            return replied, False
        if replied.status == "resolved" and replied.resolved_at and now - replied.resolved_at <= windows.reopen:
            return replied, True
        if replied.status == "resolved":  # past REOPEN_WINDOW: it is closed now
            await close(replied, now)
        return None, False  # a reply to a closed incident opens a new one
    open_here = Incident.filter(conversation_id=chat.id, customer_id=customer_id, status__in=OPEN, topic=msg.topic)
    if msg.topic is not None:
        return await open_here.order_by(*LATEST).first(), False
    recent = open_here.filter(last_activity_at__gte=now - windows.thread)
    return await recent.order_by(*LATEST).first(), False


async def close(incident: Incident, now: datetime) -> None:
    closed = await Incident.filter(id=incident.id, status="resolved").update(status="closed", closed_at=now)
    if closed:
        await IncidentEvent.create(incident=incident, at=now, kind="closed")


async def _take_numbers(customer_ids: dict[int, int]) -> dict[int, Customer]:
    """Customer id → how many new incidents; returns the customers, each with `incident_seq` at the last of
    the numbers taken (the first is `incident_seq - count + 1`). The UPDATE takes the row lock (PostgreSQL)
    and runs inside the intake transaction, which SQLite serializes; a rolled-back intake gives its numbers
    back, so keys stay gap-free. In id order: two transactions taking several customers lock them alike."""
    for customer_id, count in sorted(customer_ids.items()):
        await Customer.filter(id=customer_id).update(incident_seq=F("incident_seq") + count)
    return {customer.id: customer for customer in await Customer.filter(id__in=list(customer_ids))}


async def _open(msg: IncomingMessage, chat: Conversation, customer: Customer, number: int, sla: Sla,
                now: datetime) -> tuple[Incident, IncidentEvent]:
    """A new incident for the message, numbered `number` (taken with `_take_numbers`), and its `opened`
    event, left to the caller to write (alone, or with the batch's others)."""
    expired = customer.contract_until is not None and customer.contract_until < now.date()
    priority = classify(msg.text, sla.policy.priority_rules)
    opened_at = min(msg.sent_at, now)  # the customer's own time of writing; never in the future
    deadline = sla.deadline(customer.plan, priority, opened_at)
    incident = await Incident.create(
        key=f"{customer.code}-{number}", number=number, customer=customer, plan=customer.plan,
        conversation_id=chat.id, topic=msg.topic, title=title_of(msg), priority=priority,
        reporter_id=msg.person_id, opened_at=opened_at, deadline=deadline, last_activity_at=now,
        contract_expired=expired, next_due_at=due_for_stage(0, customer.plan, deadline, opened_at, sla),
    )
    return incident, IncidentEvent(incident=incident, at=now, actor_id=msg.person_id, kind="opened",
                                   data={"priority": priority, "expired": expired})


def _row(incident: Incident, chat: Conversation, msg: IncomingMessage, source: str) -> IncidentMessage:
    return IncidentMessage(
        incident=incident, conversation_id=chat.id, ref=msg.ref, author_id=msg.person_id,
        author=msg.author[:256], source=source, text=msg.text, attachments=msg.attachments, sent_at=msg.sent_at,
    )


async def _store(incident: Incident, chat: Conversation, msg: IncomingMessage, source: str) -> None:
    await _row(incident, chat, msg, source).save()


OnCreated = Callable[[Incident, str, datetime], Awaitable[None]]  # the incident, the ref of the message that opened it


async def record_customer_message(msg: IncomingMessage, chat: Conversation, sla: Sla, windows: Windows,
                                  now: datetime, force_new: bool = False,
                                  on_created: OnCreated | None = None,
                                  on_reopened: Callable[[Incident], Awaitable[None]] | None = None,
                                  continues: Incident | None = None) -> IntakeResult:
    """Store the message in its incident. `on_created` (a new incident) and `on_reopened` (a reply reopened
    one) run inside the same transaction, so the notifications owed are written together with it: a retry
    of the same update finds the message stored and owes nothing twice, and nothing is lost either."""
    try:
        async with in_transaction() as connection:
            await serial.take_turn(connection, chat.id)
            result = await _record(msg, chat, sla, windows, now, force_new, continues)
            if result.created and on_created is not None:
                opened = await Incident.get(id=result.incident.id).select_related("customer")
                await on_created(opened, msg.ref, now)
            if result.reopened and on_reopened is not None:
                await on_reopened(await Incident.get(id=result.incident.id).select_related("customer"))
            return result
    except IntegrityError:  # the same message raced in through another worker: its transaction won
        return IntakeResult(None, duplicate=True)


async def _record(msg: IncomingMessage, chat: Conversation, sla: Sla, windows: Windows, now: datetime,
                  force_new: bool, continues: Incident | None = None) -> IntakeResult:
    # A message seen before fails on the (conversation, ref) key at `_store`, rolling all of this back.
    incident, reopen = (None, False) if force_new else await _thread(msg, chat, windows, now, continues)
    created = incident is None
    if created:
        customer = (await _take_numbers({chat.customer_id: 1}))[chat.customer_id]
        incident, opened = await _open(msg, chat, customer, customer.incident_seq, sla, now)
        await opened.save()
    else:
        incident.last_activity_at = now
        changed = ["last_activity_at"]
        if reopen:
            incident.status, incident.resolved_at = "in_progress", None
            changed += ["status", "resolved_at"]
            await IncidentEvent.create(incident=incident, at=now, actor_id=msg.person_id, kind="reopened",
                                       data={"by_reply": True})
        await incident.save(update_fields=changed)
    await _store(incident, chat, msg, "customer")
    return IntakeResult(incident, created=created, reopened=reopen)


async def record_customer_messages(batch: list[tuple[IncomingMessage, Conversation]], sla: Sla, windows: Windows,
                                   now: datetime, on_created: OnCreated | None = None,
                                   also: Callable[[], Awaitable[None]] | None = None) -> list[IntakeResult]:
    """Many customers' plain messages (no reply, no topic, not `/new`) stored in one transaction: a group
    commit, threaded as `record_customer_message` threads each of them, in the order given. One query
    finds the open incidents of every conversation in the batch; the first message of a conversation
    without one opens an incident (its customer's numbers taken with one update per customer) and owes
    its notices (`on_created`, called before the batch's messages are written); the messages and the
    `opened` events go in with one multi-row insert each, the follow-ups' activity with one update. `also`
    runs last in the same transaction (the update ledger), so what confirms the batch is durable with it
    or not at all.

    All or nothing: a message seen before (its (conversation, ref) key) fails the whole batch with
    IntegrityError, and the caller takes the messages one by one, where a duplicate is a no-op."""
    if any(msg.reply_to is not None or msg.topic is not None for msg, _ in batch):
        raise ValueError("replies and topic messages are threaded one by one (record_customer_message)")
    async with in_transaction() as connection:
        await serial.take_turns(connection, {chat.id for _, chat in batch})
        current = await _latest_open({chat.id: chat.customer_id for _, chat in batch}, now - windows.thread)
        # Each conversation without an open incident opens one with its first message; the rest follow it.
        opening = Counter({chat.id: chat.customer_id for _, chat in batch if chat.id not in current}.values())
        customers = await _take_numbers(opening) if opening else {}
        last = {customer_id: customers[customer_id].incident_seq - count for customer_id, count in opening.items()}
        results: list[IntakeResult] = []
        rows: list[IncidentMessage] = []  # the batch's messages, opening and following, in its order
        events: list[IncidentEvent] = []
        for msg, chat in batch:
            incident = current.get(chat.id)
            created = incident is None
            if created:
                last[chat.customer_id] += 1
                incident, opened = await _open(msg, chat, customers[chat.customer_id], last[chat.customer_id], sla,
                                               now)
                events.append(opened)
                if on_created is not None:  # the incident as created, its customer with it
                    await on_created(incident, msg.ref, now)
                current[chat.id] = incident
            rows.append(_row(incident, chat, msg, "customer"))
            results.append(IntakeResult(incident, created=created))
        followed = {row.incident_id for row, result in zip(rows, results, strict=True) if not result.created}
        if followed:
            await Incident.filter(id__in=followed).update(last_activity_at=now)
        if events:
            await IncidentEvent.bulk_create(events)
        await IncidentMessage.bulk_create(rows)
        if also is not None:
            await also()
    return results


async def _latest_open(customers: dict[int, int], since: datetime) -> dict[int, Incident]:
    """Per conversation, the open incident (no topic) of its current customer with activity since `since`
    and the latest activity: what `_thread` finds for a plain message, for many conversations in one query."""
    found: dict[int, Incident] = {}
    rows = Incident.filter(conversation_id__in=list(customers), status__in=OPEN, topic=None,
                           last_activity_at__gte=since).order_by(*LATEST)
    for incident in await rows:
        if incident.customer_id == customers[incident.conversation_id]:
            found.setdefault(incident.conversation_id, incident)
    return found


async def record_bot_message(incident_id: int, channel: str, conversation: str, ref: str, text: str,
                             now: datetime) -> None:
    """The desk's own message in the incident's conversation: a reply to it threads into the incident.
    Nothing when the incident is gone or the address is not its conversation (one query asks both)."""
    found = await Incident.filter(id=incident_id, conversation__channel=channel,
                                  conversation__ref=normalize_ref(channel, conversation)).values_list(
        "conversation_id", flat=True)
    if not found:
        return
    with contextlib.suppress(IntegrityError):
        await IncidentMessage.create(incident_id=incident_id, conversation_id=found[0], ref=ref, source="bot",
                                     text=text, sent_at=now)


async def record_edit(channel: str, conversation: str, ref: str, text: str, now: datetime) -> bool:
    """An edited message updates the stored text, and the incident's title when it is the message that
    opened it (a customer correcting "hello" into the problem); False when the message is in no incident."""
    chat = await any_conversation(channel, conversation)
    if chat is None:
        return False
    async with in_transaction():
        updated = await IncidentMessage.filter(conversation_id=chat.id, ref=ref).update(text=text, edited_at=now)
        stored = await IncidentMessage.get_or_none(conversation_id=chat.id, ref=ref, source="customer")
        if stored is not None and has_words(text):
            first = await first_customer_message(stored.incident_id)
            if first is not None and first.id == stored.id:
                title = title_of(IncomingMessage(channel, conversation, ref, None, "", text, stored.attachments, now))
                await Incident.filter(id=stored.incident_id).update(title=title)
    return bool(updated)


async def close_expired(now: datetime, reopen_window: timedelta) -> int:
    """Resolved incidents past REOPEN_WINDOW become closed (the status index keeps this cheap)."""
    due = await Incident.filter(status="resolved", resolved_at__lte=now - reopen_window).limit(500)
    for incident in due:
        await close(incident, now)
    return len(due)
