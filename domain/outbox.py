"""The outbox: every notice the desk owes is a row first and a channel's call second.

A row says what is owed, not how it reads: its kind, its incident, its recipient (a person, whose
identity on the channel is looked up when it is sent; a customer's conversation, by its id, whose address on
the channel is looked up when it is sent; or the staff chat, by its Telegram chat id) and its parameters,
plain values only. The channel renders it in the recipient's language when it sends it (`domain.channels`),
so a reader who switched /lang in between reads the new language.

Rows are written in the transaction of the change that causes them, claimed one at a time with a
conditional UPDATE (so two couriers never take the same row), and marked sent, dropped or failed.

Kinds and their parameters (besides the incident):
* `new` `reminder` `breach` `repeat`: the pings (to a person);
* `ack`: the acknowledgement in the incident's chat: `reply_to` (the customer's message), `topic`;
* `announce`: the staff chat's line about a new incident, or (with `say`) a lead's announcement;
* `customer`, `notice`: a catalog text, `say` and `args` (see `say`), with `buttons` (`rating`) and `topic`;
* `escalation`: the expert's DM: `note`, `actor`;
* `handover`: `shift`, `day`, `start`, `end` (see `shift`) and `watch`, the incidents open then;
  `gaps`: `found`, a list of such shifts;
* `report`: `customer` (its code), `start`, `end`, `first`, `last` (`reports.owed`); `chart` for the picture
  (Telegram; a mail carries both);
* `reply`: a staff member's answer (/reply) to the customer: `answer` (their words, sent as written),
  `author` (their name), `topic`;
* `edit`: rewrites the sent row `of` to say that `holder` took the incident `at`.
Any row may carry `rerouted` (a `say` of the rerouting note, put first) and `buttons: false` (none).
Rows written before the intents (migration 0012) carry their finished `text` and are sent as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from domain.models import Conversation, Incident, Outbox, Staff
from domain.oncall import Occurrence
from domain.text import storable

RANK_PING = 0  # pings, reminders, breaches: ahead of everything
RANK_NOTICE = 1  # customer notices, escalations, handovers, announcements
RANK_REPORT = 2  # periodic reports
STUCK_AFTER = timedelta(minutes=2)
TELEGRAM = "telegram"  # the channel of every row until another one is configured
# A row that rewrites a message sent earlier (`of` names its row), as the pings once someone took the incident.
EDIT = "edit"
PING_KINDS = ("new", "reminder", "breach", "repeat")


@dataclass(frozen=True)
class Recipient:
    """Who a notice is for, exactly one of: a person (their identity on the channel is found when it is
    sent), a customer's conversation (`Conversation.id`; its address is found when it is sent), or a chat
    by the channel's own id (only the staff chat, a setting that is no customer's conversation). Whose
    language it is written in follows: the person's, the conversation's, the chat's."""

    person: int | None = None
    chat: int | None = None
    channel: str = TELEGRAM
    conversation: int | None = None

    def __post_init__(self) -> None:
        if [self.person, self.chat, self.conversation].count(None) != 2:
            raise ValueError("a recipient is a person, a conversation or a chat")


def person(person_id: int, channel: str = TELEGRAM) -> Recipient:
    return Recipient(person=person_id, channel=channel)


def conversation(conv: Conversation) -> Recipient:
    """A customer's conversation, on its own channel."""
    return Recipient(conversation=conv.id, channel=conv.channel)


def chat(chat_id: int, channel: str = TELEGRAM) -> Recipient:
    """A chat by the channel's id: the staff chat (customers' chats are `conversation`s)."""
    return Recipient(chat=chat_id, channel=channel)


def recipient_of(row: Outbox) -> Recipient:
    return Recipient(person=row.person_id, chat=row.chat_id, channel=row.channel, conversation=row.conversation_id)


def lane(row: Outbox) -> str:
    """The row's queue: one message at a time per recipient keeps their messages in order."""
    if row.person_id is not None:
        return f"{row.channel}:p{row.person_id}"
    if row.conversation_id is not None:
        return f"{row.channel}:v{row.conversation_id}"
    return f"{row.channel}:c{row.chat_id}"


async def addressed_conversation(row: Outbox, fresh: bool = False) -> Conversation | None:
    """The conversation a row is addressed to, with its customer (None: the row is for a person or a chat).
    A channel reads its address (`ref`) at send time: once per claimed row, as `claim` hands out new row
    objects for every attempt (pacing, rendering, sending and recording one attempt ask for it up to five
    times). `fresh`: read again (a chat found lost is marked as it is now)."""
    if row.conversation_id is None:
        return None
    if fresh or "_addressed" not in row.__dict__:
        row._addressed = await Conversation.get_or_none(id=row.conversation_id).select_related("customer")
    return row._addressed


# The values a `say` may carry besides plain ones; the channel turns each into words in the reader's language.
def word(key: str) -> dict[str, str]:
    """A catalog text of its own (`t(lang, key)`)."""
    return {"t": key}


def named(prefix: str, value: str) -> dict[str, list[str]]:
    """A stored value's name, as `locales.named` gives it (`words.plan`, `premium`)."""
    return {"named": [prefix, value]}


def day(value: date) -> dict[str, str]:
    return {"date": value.isoformat()}


def shift(occ: Occurrence) -> dict[str, str]:
    """A shift occurrence as parameters (`shift_of` reads it back)."""
    return {"shift": occ.shift, "day": occ.day.isoformat(), "start": occ.start.isoformat(), "end": occ.end.isoformat()}


def shift_of(params: dict[str, str]) -> Occurrence:
    return Occurrence(params["shift"], date.fromisoformat(params["day"]), datetime.fromisoformat(params["start"]),
                      datetime.fromisoformat(params["end"]))


def say(key: str, /, **args: Any) -> dict[str, Any]:
    """The parameters of a notice that is one catalog text: `key` rendered with `args` (plain values, or
    `word`, `named`, `day`)."""
    return {"say": key, "args": args}


FOR_CUSTOMER = "for_customer"  # a conversation's customer when the row was written (rows before it: absent)


async def _customer_of(conversation_id: int) -> int | None:
    owners = await Conversation.filter(id=conversation_id).values_list("customer_id", flat=True)
    return owners[0] if owners else None


async def enqueue(kind: str, to: Recipient, now: datetime, *, params: dict[str, Any] | None = None,
                  rank: int = RANK_NOTICE, incident_id: int | None = None, drop_if_answered: bool = False,
                  fallback: bool = False, dedupe: str | None = None) -> None:
    """Owe a notice. With `dedupe`, a second row with the same key is silently not written. Its text may
    come out any length: the channel sends it in parts that fit. A row for a customer's conversation records
    whose the conversation is now (`for_customer`): should it move to another customer or to none before the
    row is sent, what was meant for the first is not sent (`pointless`)."""
    params = {name: value for name, value in (params or {}).items() if name != FOR_CUSTOMER}
    if to.conversation is not None:
        owner = await _customer_of(to.conversation)
        if owner is not None:  # a chat bound to nobody is owed nothing of a customer's: its rows stay as they were
            params[FOR_CUSTOMER] = owner
    row = Outbox(kind=kind, rank=rank, channel=to.channel, person_id=to.person, chat_id=to.chat,
                 conversation_id=to.conversation,
                 params=storable(params), incident_id=incident_id, drop_if_answered=drop_if_answered,
                 fallback=fallback, dedupe=dedupe, due_at=now, created_at=now)
    await Outbox.bulk_create([row], ignore_conflicts=True)


def _not_busy(busy: set[str]) -> Q | None:
    """A filter leaving out the rows of busy lanes (`lane`)."""
    columns = {"p": "person_id", "v": "conversation_id", "c": "chat_id"}
    named: dict[tuple[str, str], list[int]] = {}
    for key in busy:
        channel, _, who = key.partition(":")
        named.setdefault((channel, columns[who[:1]]), []).append(int(who[1:]))
    # Spelled out with IS NULL: NOT (chat_id IN …) is NULL, not true, for a row addressed to a person.
    free = [Q(Q(channel__not=channel), Q(**{f"{column}__isnull": True}), ~Q(**{f"{column}__in": ids}),
              join_type="OR") for (channel, column), ids in named.items()]
    return Q(*free) if free else None


async def claim(now: datetime, limit: int, busy: set[str]) -> list[Outbox]:
    """Take up to `limit` due rows, pings first; rows of lanes that must wait (pacing) are left.

    On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED, so instances claiming at the
    same moment take different rows; the conditional UPDATE keeps a row single on SQLite too.
    """
    claimed = []
    async with in_transaction():
        due = Outbox.filter(status="pending", due_at__lte=now)
        waiting = _not_busy(busy)
        if waiting is not None:  # busy lanes are left out of the query: a flooded chat must not starve the rest
            due = due.filter(waiting)
        candidates = await due.order_by("rank", "id").limit(limit * 4).select_for_update(skip_locked=True)
        for row in candidates:
            if lane(row) in busy or len(claimed) >= limit:
                continue
            taken = await Outbox.filter(id=row.id, status="pending").update(
                status="sending", claimed_at=now, attempts=F("attempts") + 1
            )
            if taken:
                row.status, row.attempts = "sending", row.attempts + 1
                claimed.append(row)
                busy = busy | {lane(row)}  # one message per lane per round keeps the order
    return claimed


# What only staff may read (customers' problem texts, the desk's state): never sent to someone who left.
STAFF_ONLY = frozenset({"new", "reminder", "breach", "repeat", "escalation", "handover", "gaps"})


async def pointless(row: Outbox) -> str | None:
    """Why a row lost its point before it was sent (None: send it). A reminder for an incident someone has
    responded to; anything for staff eyes owed to a person who has since left the staff."""
    if row.kind in STAFF_ONLY and row.person_id is not None and \
            not await Staff.exists(user_id=row.person_id, active=True):
        return "the recipient is no longer staff"
    if row.incident_id is not None and (row.conversation_id is not None or row.chat_id is not None):
        # One query: the conversation is bound, and to another customer than the incident's.
        owner = Subquery(Incident.filter(id=row.incident_id).values("customer_id"))
        bound = Conversation.filter(id=row.conversation_id) if row.conversation_id is not None else \
            Conversation.filter(channel=row.channel, ref=str(row.chat_id))
        if await bound.filter(customer_id__isnull=False).exclude(customer_id=owner).exists():
            return "the chat belongs to another customer now"  # never one customer's words in another's chat
        # Unbound since (`/unbind`): whose chat it is now nobody knows, so an incident's notice (its resolution
        # and rating buttons that could rate nothing, a staff answer) is not posted there.
        if row.conversation_id is not None and await bound.filter(customer_id__isnull=True).exists():
            return "the chat is bound to no customer now"
    # Rows written before `for_customer` was recorded have none: they are sent as before.
    if row.conversation_id is not None and FOR_CUSTOMER in row.params and \
            await _customer_of(row.conversation_id) != row.params[FOR_CUSTOMER]:
        return "the chat moved to another customer or to none since"  # announcements, reports, answers
    if row.drop_if_answered and row.incident_id is not None and \
            await Incident.filter(id=row.incident_id, responded_at__isnull=False).exists():
        return "answered before it was sent"
    return None


def sent_ref(row: Outbox) -> str | None:
    """The channel's reference of what the row sent (rows sent before 0015 hold a Telegram message id)."""
    if row.sent_ref is not None:
        return row.sent_ref
    return None if row.message_id is None else str(row.message_id)


def _sent_as(ref: str) -> Q:
    old = Q(sent_ref__isnull=True, message_id=int(ref)) if ref.lstrip("-").isdigit() else None
    return Q(sent_ref=ref) | old if old is not None else Q(sent_ref=ref)


async def incident_of_sent(person_id: int, ref: str | int, channel: str = TELEGRAM) -> int | None:
    """The incident of a message the desk sent to this person (a ping, an escalation): a reply to it in
    their private chat is about that incident."""
    row = await Outbox.filter(_sent_as(str(ref)), person_id=person_id, channel=channel, status="sent",
                              incident_id__isnull=False).order_by("-id").first()
    return row.incident_id if row else None


async def mark_sent(row: Outbox, ref: str | None, now: datetime) -> None:
    await Outbox.filter(id=row.id).update(status="sent", sent_at=now, sent_ref=ref)


async def mark_dropped(row: Outbox, reason: str) -> None:
    await Outbox.filter(id=row.id).update(status="dropped", error=reason[:500])


async def mark_failed(row: Outbox, reason: str) -> None:
    await Outbox.filter(id=row.id).update(status="failed", error=reason[:500])


async def retry_later(row: Outbox, due_at: datetime, reason: str, **changes: Any) -> None:
    await Outbox.filter(id=row.id).update(status="pending", due_at=due_at, error=reason[:500], **changes)
    for name, value in changes.items():
        setattr(row, name, value)


async def part_sent(row: Outbox, ref: str, rest: str, params: dict[str, Any] | None = None) -> None:
    """A part of a long row went out: the row now holds the rendered rest still owed (and `params` without
    what the first part carried, a reply or a photo), so a retry or a restart sends the rest and never a
    part twice."""
    params = row.params if params is None else params
    await Outbox.filter(id=row.id).update(rest=rest, params=params, sent_ref=ref)
    row.rest, row.params, row.sent_ref = rest, params, ref


async def release_stuck(now: datetime, sole_instance: bool = False) -> int:
    """Rows left `sending` by a process that died are sent again: a missed ping is worse than a repeat
    in the narrow window between the channel accepting a message and the row being marked sent.

    A sole instance (polling) knows at start that every such row is a dead process's; several instances
    wait STUCK_AFTER, as a live one may be sending it right now."""
    rows = Outbox.filter(status="sending")
    if not sole_instance:
        rows = rows.filter(claimed_at__lt=now - STUCK_AFTER)
    return await rows.update(status="pending")


# What addresses a message inside the first recipient's chat; meaningless for anyone else.
_PLACED = ("reply_to", "topic")


async def reroute(row: Outbox, targets: list[Recipient], note: dict[str, Any], now: datetime,
                  keep_buttons: bool = True) -> None:
    """A notice that cannot be delivered goes to the staff chat and the leads instead, each copy rendered
    for its reader with `note` (a `say`) first, saying whose it was. A customer chat's buttons (priority,
    rating) mean nothing elsewhere: `keep_buttons=False` leaves them off."""
    params = {name: value for name, value in row.params.items() if name not in _PLACED}
    params["rerouted"] = note
    if not keep_buttons:
        params["buttons"] = False
    for target in targets:
        if target != recipient_of(row):
            where = f"p{target.person}" if target.person is not None else \
                f"v{target.conversation}" if target.conversation is not None else f"c{target.chat}"
            await enqueue(row.kind, target, now, params=params, rank=row.rank, incident_id=row.incident_id,
                          drop_if_answered=row.drop_if_answered, dedupe=f"reroute:{row.id}:{where}")


async def move_chat(old: int, new: int) -> None:
    """The staff chat became a supergroup: its owed rows follow, without their replies (message ids do not)."""
    for row in await Outbox.filter(chat_id=old, status__in=("pending", "sending")):
        params = {name: value for name, value in row.params.items() if name != "reply_to"}
        await Outbox.filter(id=row.id).update(chat_id=new, params=params)


async def moved_conversation(moved: int, into: int | None = None) -> None:
    """A conversation got a new address (a group became a supergroup): its owed rows find the new address
    by themselves, but lose their replies (the message replied to stays at the old address, and the new one
    numbers its messages afresh). Given `into` (the new address had a conversation of its own, which takes
    over), they are addressed to that one."""
    for row in await Outbox.filter(conversation_id=moved, status__in=("pending", "sending")):
        params = {name: value for name, value in row.params.items() if name != "reply_to"}
        await Outbox.filter(id=row.id).update(params=params, conversation_id=into or moved)


async def backlog(now: datetime) -> tuple[int, datetime | None]:
    """Pending rows and the oldest one's creation time (for /metrics)."""
    pending = Outbox.filter(status__in=("pending", "sending"))
    oldest = await pending.order_by("created_at").first()
    return await pending.count(), oldest.created_at if oldest else None


async def sent_pings(incident_id: int) -> list[Outbox]:
    """Every copy of the incident's pings the channel accepted, with where it is (recipient and message id)."""
    return await Outbox.filter(Q(sent_ref__isnull=False) | Q(message_id__isnull=False), incident_id=incident_id,
                               kind__in=PING_KINDS, status="sent").order_by("id")
