"""People: everyone the bot has seen, the staff and their roles, and who an update comes from."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from domain import invitations
from domain.access import INVITABLE_ROLES, Role
from domain.errors import DeskError
from domain.identities import TELEGRAM, person_for, telegram_person_id
from domain.lang import LANGS, of_chat_row, of_person_row
from domain.models import Conversation, DeskSession, Identity, Incident, IncidentEvent, Person, Staff, WallboardLink


@dataclass(frozen=True)
class Actor:
    """Who sent an update, resolved once per update by the handlers' middleware."""

    user_id: int
    role: Role
    lang: str  # the person's language (domain.lang.of_person_row): their choice, else their Telegram app's
    chat: Conversation | None  # the customer's conversation the update came from, with its customer loaded

    @property
    def is_staff(self) -> bool:
        return self.role not in (Role.CUSTOMER, Role.STRANGER)


async def seen(telegram_user: int, username: str | None, full_name: str, now: datetime,
               telegram_lang: str | None = None) -> Person:
    """Remember a Telegram user as a person (through their Telegram identity; their current username, so
    `@username` resolves later, and their Telegram app's language, so texts written later are in it).
    Writes only when something changed: this runs for every update. An update without a language code
    keeps the one remembered."""
    username, full_name, tg_lang = _as_kept(username, full_name, telegram_lang)
    person = await person_for(TELEGRAM, str(telegram_user), now, full_name)
    user_id = person.id
    new_username = person.username != username
    if not unchanged(person, username, full_name, telegram_lang):
        person.username, person.full_name, person.last_seen = username, full_name, now
        person.tg_lang = tg_lang or person.tg_lang
        await person.save(update_fields=["username", "full_name", "last_seen", "tg_lang"])
    if username and new_username:
        # A username belongs to one account at a time: forget it on whoever had it before.
        await Person.filter(username=username).exclude(id=user_id).update(username=None)
    return person


async def first_seen(users: dict[int, tuple[str | None, str, str | None]], now: datetime) -> dict[int, Person]:
    """`seen` for Telegram users met for the first time, many at once (a burst of new customers): user id →
    (username, full name, app language) in; their persons, written with their identities in two multi-row
    inserts, out. Call it inside a transaction (a savepoint of one): it fails with IntegrityError when one
    of them is not new after all (another instance met them meanwhile, or a person row older than
    identities), and the caller then takes them one by one with `seen`."""
    kept = {user_id: _as_kept(*about) for user_id, about in users.items()}
    usernames = [username for username, _, _ in kept.values() if username]
    if len(usernames) != len(set(usernames)):
        return {}  # two of them under one username: one by one, so the last keeps it, as `seen` leaves it
    if usernames:  # a username belongs to one account at a time: forget it on whoever had it before
        await Person.filter(username__in=usernames).update(username=None)
    rows = [Person(id=user_id, username=username, full_name=full_name, tg_lang=tg_lang, last_seen=now)
            for user_id, (username, full_name, tg_lang) in kept.items()]
    await Person.bulk_create(rows)
    await Identity.bulk_create([Identity(channel=TELEGRAM, ref=str(row.id), person_id=row.id) for row in rows])
    return {row.id: row for row in rows}


async def app_lang_elsewhere(person: Person, app_lang: str | None) -> None:
    """The app language another channel gives (MAX's `user_locale`) as the person's fallback after their
    /lang choice, as Telegram's is (`seen`), for someone with no Telegram account (a person of another channel
    has a negative id): one who is in Telegram too keeps their Telegram app's. Written only on a change."""
    app_lang = (app_lang or "")[:8] or None
    if person.id < 0 and app_lang and person.tg_lang != app_lang:
        person.tg_lang = app_lang
        await Person.filter(id=person.id).update(tg_lang=app_lang)


def _as_kept(username: str | None, full_name: str, telegram_lang: str | None) -> tuple[str | None, str, str | None]:
    return (username.lower() if username else None), full_name[:256], (telegram_lang or "")[:8] or None


def unchanged(person: Person, username: str | None, full_name: str, telegram_lang: str | None) -> bool:
    """`seen` would write nothing: the person's username, name and app language are as remembered."""
    username, full_name, tg_lang = _as_kept(username, full_name, telegram_lang)
    return person.username == username and person.full_name == full_name and not (tg_lang and
                                                                                   person.tg_lang != tg_lang)


async def staff_among(user_ids: list[int]) -> set[int]:
    """Which of these people are active staff (one query; LEAD_IDS are staff rows too, see `ensure_leads`)."""
    return set(await Staff.filter(user_id__in=user_ids, active=True).values_list("user_id", flat=True))


async def resolve_actor(user_id: int, chat: Conversation | None, lead_ids: frozenset[int],
                        person: Person | None = None, default_lang: str = "ru") -> Actor:
    """`user_id` is the person's id; `chat` the customer's conversation the update came from, if any."""
    if person is None:
        person = await Person.get_or_none(id=user_id)
    staff = await Staff.get_or_none(user_id=user_id, active=True)
    if user_id in lead_ids:
        role = Role.LEAD
    elif staff is not None:
        role = Role(staff.role)
    elif chat is not None:
        role = Role.CUSTOMER
    else:
        role = Role.STRANGER
    return Actor(user_id=user_id, role=role, lang=of_person_row(person, default_lang), chat=chat)


async def resolve_chat_sender(sender_chat_id: int, chat: Conversation | None, default_lang: str = "ru") -> Actor:
    """A message sent on behalf of a chat (an anonymous group admin, or "as a channel"): its author is that
    chat, a customer where the chat is bound and a stranger elsewhere; never staff, since nobody can tell
    who is behind it."""
    return Actor(user_id=sender_chat_id, role=Role.CUSTOMER if chat is not None else Role.STRANGER,
                 lang=of_chat_row(chat, default_lang), chat=chat)


@dataclass(frozen=True)
class LeadChanges:
    """What `ensure_leads` did to leads that are no longer in LEAD_IDS."""

    demoted: list[int]  # back to the role they had before the setting made them lead
    removed: list[int]  # they were not staff before: they left the staff
    kept: list[int]  # not taken away: the desk would have had no lead at all


async def ensure_leads(lead_ids: frozenset[int], now: datetime) -> LeadChanges:
    """At start: `LEAD_IDS` are leads, listed in /staff like invited ones, and remembered as made by the
    setting (with the role they had before). A lead made only by the setting who is no longer in it goes
    back to that role, or leaves the staff when they had none — unless no lead at all would be left
    (LEAD_IDS emptied and nobody invited as a lead): a desk without a lead cannot be run."""
    lead = Role.LEAD.value
    async with in_transaction():
        for user_id in lead_ids:
            staff = await Staff.get_or_none(user_id=user_id)
            if staff is None:
                await Staff.create(user_id=user_id, role=lead, active=True, added_at=now, via_config=True)
            elif not staff.active or staff.role != lead:
                staff.role_before = staff.role if staff.active else None
                staff.role, staff.active, staff.via_config = lead, True, True
                await staff.save(update_fields=["role", "active", "via_config", "role_before"])
        stale = [s for s in await Staff.filter(via_config=True, active=True) if s.user_id not in lead_ids]
        stale_ids = [s.user_id for s in stale]
        leads_now = await Staff.filter(role=lead, active=True).values_list("user_id", flat=True)
        if stale and not set(leads_now) - set(stale_ids):
            return LeadChanges([], [], stale_ids)
        for staff in stale:
            if staff.role_before:
                staff.role = staff.role_before
            else:
                staff.active = False
            staff.via_config, staff.role_before = False, None
            await staff.save(update_fields=["role", "active", "via_config", "role_before"])
            await _drop_desk_access(staff.user_id, staff=staff.active)
    return LeadChanges([s.user_id for s in stale if s.active], [s.user_id for s in stale if not s.active], [])


async def set_person_lang(user_id: int, lang: str, now: datetime) -> None:
    await Person.update_or_create(id=user_id, defaults={"lang": lang, "last_seen": now})


async def choose_lang(actor: Actor, choice: str, now: datetime) -> tuple[str, str]:
    """`/lang ru|en`, on any channel: in a customer's chat (a Telegram group, a chat room, a bound private chat)
    a lead or the customer sets the chat's language, one for everyone there; anyone else their own. Returned:
    the language chosen and the catalog key of the confirmation, which is said in it. Anything but a language
    is refused, and changes nothing."""
    choice = choice.lower()
    if choice not in LANGS:
        raise DeskError("usage.lang")
    if actor.chat is not None and actor.role in (Role.LEAD, Role.CUSTOMER):
        actor.chat.lang = choice
        await actor.chat.save(update_fields=["lang"])
        return choice, "lang.chat_set"
    await set_person_lang(actor.user_id, choice, now)
    return choice, "lang.person_set"


async def mark_dm(user_id: int, reachable: bool, now: datetime) -> None:
    await Person.update_or_create(id=user_id, defaults={"can_dm": reachable, "last_seen": now})


async def blocked_bot(user_id: int, blocked: bool, now: datetime, tell: Callable[[], Awaitable[None]]) -> None:
    """A person blocked the bot in private (or unblocked it). When an active staff member newly blocks it,
    `tell` owes the leads' notice in the same transaction: their pings go to the staff chat and the leads
    from now on. A repeated update finds nothing changed and tells nobody."""
    async with in_transaction():
        person = await Person.get_or_none(id=user_id)
        was = person.can_dm if person else None
        await mark_dm(user_id, not blocked, now)
        if blocked and was is not False and await Staff.exists(user_id=user_id, active=True):
            await tell()


_USERNAME = re.compile(r"^@([A-Za-z0-9_]{3,64})$")


async def resolve_person(ref: str) -> int:
    """`@username` (of someone the bot has seen) or a numeric Telegram user id → the person id."""
    ref = ref.strip()
    if re.fullmatch(r"\d{1,15}", ref):
        return await telegram_person_id(ref)
    match = _USERNAME.match(ref)
    if not match:
        raise DeskError("err.bad_person", ref=ref)
    person = await Person.get_or_none(username=match.group(1).lower())
    if person is None:
        raise DeskError("err.unknown_person", ref=ref)
    return person.id


async def register_staff(user_id: int, role: str, added_by: int | None, now: datetime) -> Staff:
    if role not in INVITABLE_ROLES:
        raise DeskError("err.bad_role", role=role, allowed=" ".join(INVITABLE_ROLES))
    current = await Staff.get_or_none(user_id=user_id, active=True, via_config=True)
    if current is not None:
        # A lead by LEAD_IDS stays one while listed there; the invitation's role is what they keep when
        # taken out of it (an invitation as lead makes them a lead in their own right).
        current.role_before = None if role == Role.LEAD.value else role
        current.via_config = role != Role.LEAD.value
        await current.save(update_fields=["role_before", "via_config"])
        return current
    staff, _ = await Staff.update_or_create(
        user_id=user_id, defaults={"role": role, "active": True, "added_at": now, "added_by": added_by}
    )
    return staff


@dataclass(frozen=True)
class StaffEntry:
    user_id: int
    role: str
    name: str
    username: str | None
    can_dm: bool | None


async def list_staff() -> list[StaffEntry]:
    staff = await Staff.filter(active=True).order_by("role", "user_id")
    people = {p.id: p for p in await Person.filter(id__in=[s.user_id for s in staff])}
    order = {r.value: i for i, r in enumerate(Role)}
    entries = [
        StaffEntry(
            user_id=s.user_id,
            role=s.role,
            name=people[s.user_id].full_name if s.user_id in people else "",
            username=people[s.user_id].username if s.user_id in people else None,
            can_dm=people[s.user_id].can_dm if s.user_id in people else None,
        )
        for s in staff
    ]
    return sorted(entries, key=lambda e: (order.get(e.role, 99), e.user_id))


async def _active_staff(ref: str) -> Staff:
    user_id = await resolve_person(ref)
    staff = await Staff.get_or_none(user_id=user_id, active=True)
    if staff is None:
        raise DeskError("err.not_staff", ref=ref)
    return staff


async def _guard_last_lead(staff: Staff, lead_ids: frozenset[int]) -> None:
    if staff.user_id in lead_ids:
        raise DeskError("err.lead_by_config", ref=staff.user_id)
    if staff.role == Role.LEAD.value:
        others = await Staff.filter(role=Role.LEAD.value, active=True).exclude(id=staff.id).count()
        if others == 0:
            raise DeskError("err.last_lead")


async def change_role(ref: str, role: str, lead_ids: frozenset[int]) -> Staff:
    if role not in INVITABLE_ROLES:
        raise DeskError("err.bad_role", role=role, allowed=" ".join(INVITABLE_ROLES))
    async with in_transaction():
        staff = await _active_staff(ref)
        if role != Role.LEAD.value:
            await _guard_last_lead(staff, lead_ids)
        staff.role = role
        await staff.save(update_fields=["role"])
        if role != Role.LEAD.value:
            await _drop_desk_access(staff.user_id, staff=True)
    return staff


async def _drop_desk_access(user_id: int, staff: bool) -> None:
    """Who leaves the staff loses their desk-page sessions, who stops being a lead their wallboard links, at
    once: re-added later, nothing they held before works again."""
    if not staff:
        await DeskSession.filter(user_id=user_id).delete()
    await WallboardLink.filter(created_by=user_id).delete()


async def remove_staff(ref: str, lead_ids: frozenset[int], now: datetime | None = None) -> tuple[Staff, list[str]]:
    """Take someone off the staff; their open incidents lose their assignee (an event says so), so none is
    left "in progress" with someone gone. Returns the staff row and those incidents' keys."""
    async with in_transaction():
        staff = await _active_staff(ref)
        await _guard_last_lead(staff, lead_ids)
        staff.active = False
        await staff.save(update_fields=["active"])
        await _drop_desk_access(staff.user_id, staff=False)
        held = await Incident.filter(assignee_id=staff.user_id, status__in=("new", "in_progress")).order_by("id")
        if held:
            await Incident.filter(id__in=[i.id for i in held]).update(assignee_id=None)
            await IncidentEvent.bulk_create([IncidentEvent(incident_id=i.id, at=now or i.last_activity_at,
                                                           kind="released", data={}) for i in held])
    return staff, [i.key for i in held]


async def join_staff(token: str, user_id: int, now: datetime) -> Staff:
    """Redeem a staff invitation: the person who opened the link gets its role."""
    async with in_transaction():
        invitation = await invitations.redeem(token, "staff", user_id, now)
        # A lead in their own right is not demoted by opening a link meant for someone else: the link is
        # left unused (the transaction rolls back) and roles change with /staff_role.
        if invitation.role != Role.LEAD.value and await Staff.exists(
                user_id=user_id, active=True, role=Role.LEAD.value, via_config=False):
            raise DeskError("err.already_lead")
        return await register_staff(user_id, invitation.role, invitation.created_by, now)


async def display_name(user_id: int | None) -> str:
    if user_id is None:
        return "—"
    person = await Person.get_or_none(id=user_id)
    if person is None:
        return str(user_id)
    return f"{person.full_name} (@{person.username})" if person.username else (person.full_name or str(user_id))
