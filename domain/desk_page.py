"""The desk page and the wallboard: sign-in links, sessions, wallboard links, and what the pages show.

Every query the pages make lives here, so a change of the core (conversations and channels) touches
one module. Tokens are 256 random bits; only their SHA-256 is stored, so the database never reveals a
live link or a live session.

* A sign-in link is made for one staff member, valid `LOGIN_VALID`, used once (a conditional UPDATE,
  so two tabs opening it at once get one session between them).
* A session lasts `SESSION_VALID`; it is good only while its person is active staff, checked at every
  request, so a removed or deactivated engineer is out at once.
* A wallboard link is good until a lead revokes it, or its lead leaves the staff.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from domain import incidents, oncall, outbox, parked, people
from domain.access import Role
from domain.errors import DeskError
from domain.models import (
    DeskLogin,
    DeskSession,
    Incident,
    IncidentEvent,
    IncidentMessage,
    Outbox,
    Staff,
    UnboundConversation,
    UnboundMessage,
    WallboardLink,
)
from domain.policy import ShiftSpec
from domain.sla import BREACHED, MET, Sla, verdict

LOGIN_VALID = timedelta(minutes=10)
SESSION_VALID = timedelta(hours=12)
GAP_HORIZON = timedelta(days=7)
KEY_MAX = Incident._meta.fields_map["key"].max_length
FAILED_WINDOW = timedelta(days=1)  # undeliverable notices shown as "stuck" for a day
# Until the core's conversations land every incident comes from a Telegram chat.


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token() -> str:
    return secrets.token_urlsafe(32)


async def _active_staff(user_id: int) -> bool:
    return await Staff.exists(user_id=user_id, active=True)


async def _lead(user_id: int) -> bool:
    return await Staff.exists(user_id=user_id, active=True, role=Role.LEAD.value)


# ---- sign-in ----------------------------------------------------------------------------------------
async def create_login(user_id: int, now: datetime) -> str:
    if not await _active_staff(user_id):
        raise DeskError("desk.not_staff")
    token = _token()
    await DeskLogin.create(token_hash=_hash(token), user_id=user_id, created_at=now, expires_at=now + LOGIN_VALID)
    return token


@dataclass(frozen=True)
class Session:
    token: str
    user_id: int
    expires_at: datetime


async def _usable(token: str, now: datetime) -> DeskLogin:
    login = await DeskLogin.get_or_none(token_hash=_hash(token))
    if login is None:
        raise DeskError("desk.link_unknown")
    if login.used_at is not None:
        raise DeskError("desk.link_used")
    if login.expires_at <= now:
        raise DeskError("desk.link_expired")
    if not await _active_staff(login.user_id):
        raise DeskError("desk.not_staff")
    return login


async def check_login(token: str, now: datetime) -> int:
    """Whose sign-in link this is, without using it (the page that opens from the chat only shows a
    button: link previews and prefetching must not burn the link); DeskError with the reason otherwise."""
    return (await _usable(token, now)).user_id


async def redeem_login(token: str, now: datetime) -> Session:
    """A new session for the person the link was made for; DeskError with the reason otherwise."""
    async with in_transaction():
        login = await _usable(token, now)
        if not await DeskLogin.filter(id=login.id, used_at__isnull=True).update(used_at=now):
            raise DeskError("desk.link_used")  # another tab was first
        session = _token()
        expires = now + SESSION_VALID
        await DeskSession.create(token_hash=_hash(session), user_id=login.user_id, created_at=now, expires_at=expires)
    return Session(session, login.user_id, expires)


async def session_user(token: str | None, now: datetime) -> int | None:
    """The staff member signed in with this session cookie, or None (unknown, expired, or no longer staff)."""
    if not token:
        return None
    session = await DeskSession.get_or_none(token_hash=_hash(token), expires_at__gt=now)
    if session is None:
        return None
    if not await _active_staff(session.user_id):
        await DeskSession.filter(user_id=session.user_id).delete()  # they do not come back with the role
        return None
    return session.user_id


async def sign_out(token: str) -> None:
    await DeskSession.filter(token_hash=_hash(token)).delete()


async def forget_expired(now: datetime) -> int:
    """Sessions and sign-in links past their time: nothing can use them any more."""
    gone = await DeskSession.filter(expires_at__lte=now).delete()
    return gone + await DeskLogin.filter(expires_at__lte=now).delete()


# ---- wallboard links ----------------------------------------------------------------------------------
async def create_wallboard(user_id: int, lang: str, now: datetime) -> str:
    token = _token()
    await WallboardLink.create(token_hash=_hash(token), created_by=user_id, lang=lang, created_at=now)
    return token


async def revoke_wallboards(now: datetime) -> int:
    return await WallboardLink.filter(revoked_at__isnull=True).update(revoked_at=now)


async def wallboard(token: str | None) -> WallboardLink | None:
    """The live link with this token; a revoked one, or one whose lead left the staff or is a lead no
    more, is no link (and their links are dropped, so they do not come back with the role)."""
    if not token:
        return None
    link = await WallboardLink.get_or_none(token_hash=_hash(token), revoked_at__isnull=True)
    if link is None:
        return None
    if not await _lead(link.created_by):
        await WallboardLink.filter(created_by=link.created_by).delete()
        return None
    return link


# ---- what the pages show --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    key: str
    code: str
    customer: str  # the customer's name (the company, not its people); left out of the wallboard
    plan: str
    priority: str
    channel: str
    assignee: str | None  # a staff member's display name
    status: str
    title: str
    deadline: datetime | None
    responded: bool
    paused_until: datetime | None  # the plan's calendar is closed now: the reaction clock waits for it


@dataclass(frozen=True)
class DutyNow:
    shift: str | None
    name: str | None  # None: nobody
    override: bool


@dataclass(frozen=True)
class Handoff:
    shift: str
    at: datetime
    name: str | None


@dataclass(frozen=True)
class Today:
    opened: int
    met: int  # responded today within the target
    breached: int  # deadlines that passed today without a response in time


@dataclass(frozen=True)
class Stuck:
    backlog: int  # outbox rows pending
    oldest_age: timedelta | None
    failed: int  # notices that could not be delivered in the last day
    parked: int  # updates waiting for a lead
    unbound_messages: int
    unbound_chats: int
    parked_from: tuple[tuple[str, int], ...] = ()  # the parked ones per channel they came from


@dataclass(frozen=True)
class Board:
    now: datetime
    incidents: list[Row]
    duties: list[DutyNow]
    handoff: Handoff | None
    gaps: list[oncall.Occurrence]
    today: Today
    stuck: Stuck


def day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """Midnight in the desk's zone, in UTC (SQLite compares stored times as text: one zone for all)."""
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), zone).astimezone(UTC)


async def _name(user_id: int | None) -> str | None:
    return await people.display_name(user_id) if user_id is not None else None


async def open_rows(now: datetime, sla: Sla) -> list[Row]:
    rows = []
    for i in await incidents.open_incidents(with_conversation=True):
        paused = None
        if i.responded_at is None and i.deadline is not None and i.deadline > now and not sla.is_open(i.plan, now):
            paused = sla.calendar(i.plan).next_opening(now)
        rows.append(Row(i.key, i.customer.code, i.customer.name, i.plan, i.priority, i.conversation.channel,
                        await _name(i.assignee_id), i.status, i.title, i.deadline, i.responded_at is not None, paused))
    return rows


async def on_call(now: datetime, shifts: dict[str, ShiftSpec]) -> tuple[list[DutyNow], Handoff | None,
                                                                      list[oncall.Occurrence]]:
    rotations, spans = await oncall.load(now, GAP_HORIZON + timedelta(days=1))
    duties = [DutyNow(d.shift, await _name(d.user_id), d.source == "override")
              for d in oncall.on_call_at(now, shifts, rotations, spans)]
    handoff = None
    if shifts:
        nxt, incoming = oncall.next_handoff(now, shifts, rotations, spans)
        handoff = Handoff(nxt.shift, nxt.start, await _name(incoming))
    return duties, handoff, oncall.gaps(now, now + GAP_HORIZON, shifts, rotations, spans)


async def today(now: datetime, zone: ZoneInfo) -> Today:
    now = now.astimezone(UTC)
    start = day_start(now, zone)
    opened = await Incident.filter(opened_at__gte=start, opened_at__lte=now).count()
    answered = await Incident.filter(responded_at__gte=start, responded_at__lte=now).values_list(
        "deadline", "responded_at")
    met = sum(1 for deadline, responded in answered if verdict(deadline, responded, now) == MET)
    due = await Incident.filter(deadline__gte=start, deadline__lt=now).values_list("deadline", "responded_at")
    breached = sum(1 for deadline, responded in due if verdict(deadline, responded, now) == BREACHED)
    return Today(opened, met, breached)


async def stuck(now: datetime) -> Stuck:
    backlog, oldest = await outbox.backlog(now)
    failed = await Outbox.filter(status="failed", created_at__gte=now - FAILED_WINDOW).count()
    return Stuck(backlog, now - oldest if oldest else None, failed, await parked.count_waiting(),
                 await UnboundMessage.all().count(), await UnboundConversation.all().count(),
                 tuple(await parked.waiting_by_channel()))


async def board(now: datetime, sla: Sla, shifts: dict[str, ShiftSpec], zone: ZoneInfo) -> Board:
    duties, handoff, gaps = await on_call(now, shifts)
    return Board(now, await open_rows(now, sla), duties, handoff, gaps, await today(now, zone), await stuck(now))


@dataclass(frozen=True)
class Card:
    incident: Incident
    assignee: str | None
    events: list[tuple[IncidentEvent, str | None]]  # with the actor's name
    messages: list[IncidentMessage]
    waited: timedelta | None  # working time until the first response
    target: timedelta
    met: bool | None  # None: not responded yet


async def card(key: str, sla: Sla) -> Card:
    """The incident's card, read-only; an unknown key is DeskError (the page answers 404)."""
    if len(key) > KEY_MAX or not key.isprintable():  # no such key can exist; the database would refuse it
        raise DeskError("err.unknown_incident", key=key[:KEY_MAX].upper().replace("\x00", "") + "…")
    incident = await incidents.by_key(key)
    await incident.fetch_related("conversation")
    events, messages = await incidents.history(incident)
    named = [(e, await _name(e.actor_id)) for e in events]
    waited = met = None
    if incident.responded_at is not None:
        waited = sla.reaction_time(incident.plan, incident.opened_at, incident.responded_at)
        met = verdict(incident.deadline, incident.responded_at, incident.responded_at) == MET
    return Card(incident, await _name(incident.assignee_id), named, messages, waited,
                sla.target(incident.plan, incident.priority), met)
