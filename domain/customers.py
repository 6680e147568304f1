"""Customers, their settings, and the conversations bound to them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from domain import identities, incidents, invitations, outbox
from domain.errors import DeskError
from domain.mail_rules import domain_of
from domain.models import Conversation, Customer, Incident, IncidentMessage, Staff
from domain.people import resolve_person
from domain.policy import HA_SETUPS, PLANS, Tariff
from domain.sla import Sla

CODE = re.compile(r"^[A-Z0-9_]{2,16}$")
REPORT_PERIODS = ("off", "weekly", "monthly", "quarterly")
FIELDS = ("name", "plan", "users", "cts", "ha", "tz", "lang", "report", "contract_until", "engineer", "contact",
          "email")
MAX_NAME = 256
MAX_CONTACTS = 20
MAX_CONTACT = 200


def normalize_code(code: str) -> str:
    value = code.strip().upper()
    if not CODE.match(value):
        raise DeskError("err.bad_code", code=code)
    return value


def check_plan(plan: str) -> str:
    value = plan.strip().lower()
    if value not in PLANS:
        raise DeskError("err.bad_plan", plan=plan, allowed=" ".join(PLANS))
    return value


async def get_customer(code: str) -> Customer:
    customer = await Customer.get_or_none(code=normalize_code(code))
    if customer is None:
        raise DeskError("err.unknown_customer", code=code.upper())
    return customer


async def add_customer(code: str, plan: str, name: str, now: datetime) -> Customer:
    code, plan, name = normalize_code(code), check_plan(plan), name.strip()
    if not name or len(name) > MAX_NAME:
        raise DeskError("err.bad_name", limit=MAX_NAME)
    if await Customer.exists(code=code):
        raise DeskError("err.customer_exists", code=code)
    return await Customer.create(code=code, plan=plan, name=name, created_at=now)


async def list_customers() -> list[tuple[Customer, int]]:
    """Customers by code, each with its number of open incidents (one grouped query)."""
    counts = dict(await Incident.filter(status__in=("new", "in_progress")).annotate(n=Count("id"))
                  .group_by("customer_id").values_list("customer_id", "n"))
    return [(c, counts.get(c.id, 0)) for c in await all_customers()]


async def conversations_of(customer: Customer) -> list[Conversation]:
    return await Conversation.filter(customer=customer).order_by("bound_at", "id")


async def all_customers() -> list[Customer]:
    return await Customer.all().order_by("code")


async def addressed(target: str) -> list[Customer]:
    """Whom an announcement is for: `all`, every customer of a plan, or one customer by code."""
    target = target.lower()
    if target == "all":
        return await all_customers()
    if target in PLANS:
        return await Customer.filter(plan=target).order_by("code")
    return [await get_customer(target)]


def _choice(value: str, field: str, allowed: tuple[str, ...]) -> str:
    value = value.lower()
    if value not in allowed:
        raise DeskError("err.bad_choice", field=field, value=value, allowed=" ".join(allowed))
    return value


def check_field(field: str) -> str:
    field = field.lower()
    if field not in FIELDS:
        raise DeskError("err.bad_field", field=field, allowed=" ".join(FIELDS))
    return field


async def set_field(customer: Customer | str, field: str, value: Any, sla: Sla, now: datetime) -> Customer:
    """Change one field of a customer (given, or by its code) to a typed value, as `handlers.args` reads it:
    `users`/`cts` an int, `tz` a ZoneInfo, `contract_until` a date, `engineer` a staff reference; `name`,
    `plan`, `ha`, `lang`, `report`, `contact` text. None clears `contract_until` and `engineer`, and empties
    the contacts.

    A new plan applies to the customer's open incidents too: their deadlines move with it.
    """
    field = check_field(field)
    if isinstance(customer, str):
        customer = await get_customer(customer)
    if field == "name":
        if len(value) > MAX_NAME:
            raise DeskError("err.bad_name", limit=MAX_NAME)
        customer.name = value
    elif field == "plan":
        customer.plan = check_plan(value)
    elif field in ("users", "cts"):
        setattr(customer, field, int(value))
    elif field == "ha":
        customer.ha = _choice(value, field, HA_SETUPS)
    elif field == "tz":
        customer.tz = value.key
    elif field == "lang":
        customer.lang = _choice(value, field, ("ru", "en"))
    elif field == "report":
        customer.report = _choice(value, field, REPORT_PERIODS)
    elif field == "contract_until":
        customer.contract_until = value
    elif field == "engineer":
        customer.engineer_id = None if value is None else await _staff_id(value)
    elif field == "contact":
        if value is None:
            customer.contacts = []
        elif len(value) > MAX_CONTACT:
            raise DeskError("err.contact_too_long", limit=MAX_CONTACT)
        elif len(customer.contacts) >= MAX_CONTACTS:
            raise DeskError("err.too_many_contacts", limit=MAX_CONTACTS)
        else:
            customer.contacts = [*customer.contacts, value]
    async with in_transaction():
        await customer.save()
        if field == "plan":
            await incidents.replan(customer.id, customer.plan, sla, now)
    return customer


async def _staff_id(ref: str) -> int:
    user_id = await resolve_person(ref)
    if not await Staff.exists(user_id=user_id, active=True):
        raise DeskError("err.not_staff", ref=ref)
    return user_id


def price_estimate(tariff: Tariff, plan: str, users: int, cts: int, ha: str) -> float | None:
    """Monthly price = (base[plan] + per_user[plan] × users + per_cts × cts) × ha[setup]; None if unpriced."""
    if plan not in tariff.base:
        return None
    return (tariff.base[plan] + tariff.per_user.get(plan, 0) * users + tariff.per_cts * cts) * tariff.ha[ha]


async def invite_chat(code: str, lead_id: int, now: datetime, kind: str = "chat") -> tuple[Customer, str]:
    """A one-time code binding a chat to the customer: `chat` a Telegram group, else the channel it is for."""
    customer = await get_customer(code)
    return customer, await invitations.create(kind, lead_id, now, customer=customer)


async def bind_conversation(customer: Customer, channel: str, ref: str, title: str, kind: str, person_id: int,
                            now: datetime) -> Conversation:
    """Bind the conversation at this address to the customer. One unbound since keeps its row (its old
    incidents point at it) and is bound afresh."""
    existing = await identities.any_conversation(channel, ref)
    if existing is not None and existing.customer_id is not None:
        if existing.customer_id == customer.id:
            raise DeskError("err.already_bound_same", code=customer.code)
        raise DeskError("err.already_bound", code=(await Customer.get(id=existing.customer_id)).code)
    binding = {"customer": customer, "title": title[:256], "kind": kind, "lang": None, "bound_at": now,
               "bound_by": person_id, "unreachable_since": None}
    if existing is None:
        return await Conversation.create(channel=channel, ref=identities.normalize_ref(channel, ref), **binding)
    await existing.update_from_dict(binding).save()
    return existing


async def bind_by_code(code: str, channel: str, ref: str, title: str, kind: str, person_id: int,
                       now: datetime) -> Conversation:
    return await bind_conversation(await get_customer(code), channel, ref, title, kind, person_id, now)


async def bind_by_invitation(token: str, channel: str, ref: str, title: str, kind: str, person_id: int,
                             now: datetime, invitation_kind: str = "chat") -> Conversation:
    async with in_transaction():
        invitation = await invitations.redeem(token, invitation_kind, person_id, now)
        conversation = await bind_conversation(invitation.customer, channel, ref, title, kind, person_id, now)
        await invitations.used_in(invitation, conversation)
        return conversation


@dataclass(frozen=True)
class Released:
    """A conversation just unbound, with the customer it was bound to."""

    conversation: Conversation
    customer: Customer
    # An e-mail address unbound while its domain stays bound: its mail still reaches that domain's customer.
    still_by_domain: Conversation | None = None


async def release(channel: str, ref: str) -> Released | None:
    """The conversation at this address no longer belongs to its customer; None when none is bound there.
    The row stays, without a customer: its incidents (open ones as they are) and stored messages keep
    pointing at it, and what it writes next goes to the unbound inbox, as from any unbound conversation."""
    conversation = await identities.conversation_of(channel, ref)
    if conversation is None:
        return None
    # Conditional on the binding read: a lead who unbinds (or rebinds) it meanwhile is not undone.
    if not await Conversation.filter(id=conversation.id, customer_id=conversation.customer_id).update(
            customer_id=None, bound_at=None, bound_by=None):
        return None
    still = None
    if channel == identities.EMAIL and "@" in conversation.ref:
        still = await identities.conversation_of(identities.EMAIL, domain_of(conversation.ref))
    return Released(conversation, conversation.customer, still)


async def unbind(channel: str, ref: str) -> Customer:
    """`release`, for the conversation a command is sent in: one bound to nobody is an error."""
    released = await release(channel, ref)
    if released is None:
        raise DeskError("err.not_bound")
    return released.customer


# How long a conversation the desk could not deliver to is given up without trying. Then one send is
# tried again: Telegram says nothing when a mute ends, and a chat must not stay deaf for good because of one.
RETRY_UNREACHABLE = timedelta(hours=1)


async def unreachable_since(channel: str, ref: str) -> datetime | None:
    chat = await identities.conversation_of(channel, ref)
    return chat.unreachable_since if chat else None


async def is_unreachable(channel: str, ref: str, now: datetime | None = None) -> bool:
    """Unreachable now; with `now`, only while the last refusal is fresher than RETRY_UNREACHABLE."""
    since = await unreachable_since(channel, ref)
    return since is not None and (now is None or now - since < RETRY_UNREACHABLE)


Tell = Callable[[Conversation], Awaitable[None]]


async def set_reachable(channel: str, ref: str, reachable: bool, now: datetime, tell: Tell) -> Conversation | None:
    """The desk can no longer deliver to a customer's conversation (the bot was removed from the group, or
    muted there), or can again. Only a change counts: `tell` owes the leads' notice in the same
    transaction, so a repeated update or two instances tell them once. Returns the conversation when its
    state changed, else None (also for one bound to nobody)."""
    bound = Conversation.filter(channel=channel, ref=identities.normalize_ref(channel, ref), customer_id__isnull=False)
    async with in_transaction():
        changed = await bound.filter(unreachable_since__isnull=not reachable).update(
            unreachable_since=None if reachable else now)
        if not changed:
            if not reachable:  # refused again after a retry: given up for another while, nobody told twice
                await bound.update(unreachable_since=now)
            return None
        chat = await identities.conversation_of(channel, ref)
        await tell(chat)
        return chat


async def move_conversation(channel: str, old: str, new: str) -> Conversation | None:
    """A conversation got a new address: a Telegram group upgraded to a supergroup gets a new id (Telegram
    tells it three ways: `migrate_to_chat_id` in the old group, `migrate_from_chat_id` in the new one, and
    an error on a send to the old id). The binding, the incidents and the notices not yet sent follow the
    new address, in one transaction; doing it twice changes nothing.

    Stored messages stay with the old address: the supergroup numbers its messages afresh, so a later
    message there with an old message's number must not look like one seen before. Notices lose their
    reply: the message replied to stays in the old group."""
    old, new = identities.normalize_ref(channel, old), identities.normalize_ref(channel, new)
    if old == new:
        return None
    async with in_transaction():
        moving = await identities.any_conversation(channel, old)
        target = await identities.any_conversation(channel, new)
        if moving is not None and target is None:
            # The row (binding, language, incidents) takes the new address; a detached row keeps the old
            # one for the messages written there.
            await Conversation.filter(id=moving.id).update(ref=new, kind="supergroup", unreachable_since=None)
            left = await Conversation.create(channel=channel, ref=old, title=moving.title, kind=moving.kind)
            await IncidentMessage.filter(conversation_id=moving.id).update(conversation_id=left.id)
            await outbox.moved_conversation(moving.id)  # owed rows name the conversation: it moved with them
        elif moving is not None:
            # The new address has a row already (it was bound meanwhile, or wrote unbound): that binding
            # stands, or takes this one's when it has none.
            await Incident.filter(conversation_id=moving.id).update(conversation_id=target.id)
            if target.customer_id is None and moving.customer_id is not None:
                await Conversation.filter(id=target.id).update(
                    customer_id=moving.customer_id, lang=moving.lang, bound_at=moving.bound_at,
                    bound_by=moving.bound_by, kind="supergroup", unreachable_since=None)
            await Conversation.filter(id=moving.id).update(customer_id=None, bound_at=None, bound_by=None)
            await outbox.moved_conversation(moving.id, target.id)
        if channel == identities.TELEGRAM:
            await outbox.move_chat(int(old), int(new))  # the staff chat's rows address it by its Telegram id
    return await identities.conversation_of(channel, new) if moving is not None else None


async def upgraded_from(old: Conversation, incident: Incident) -> bool:
    """Whether `old` is the address the incident's Telegram chat had before its upgrade to a supergroup:
    `move_conversation` took the incident to the new address and left its stored messages with the row
    detached at the old one, so that row holding the incident's messages while the incident lives
    elsewhere is the upgrade's trace (no other change moves an incident off the chat its messages are in)."""
    if old.channel != identities.TELEGRAM or old.customer_id is not None or old.id == incident.conversation_id:
        return False
    return (await Conversation.exists(id=incident.conversation_id, channel=identities.TELEGRAM, kind="supergroup")
            and await IncidentMessage.exists(conversation_id=old.id, incident_id=incident.id))


async def chat_gone(incident: Incident) -> bool:
    """Whether the incident's chat (a Telegram group or a chat room) is no longer its customer's: unbound,
    or bound to another since. The desk posts nothing of the incident there any more (`outbox.pointless`);
    a mail incident's notices go to its reporter's address, which no unbinding takes away."""
    chats = await Conversation.filter(id=incident.conversation_id).values_list("channel", "customer_id")
    return bool(chats) and chats[0][0] != identities.EMAIL and chats[0][1] != incident.customer_id


async def mail_contacts(customer: Customer, now: datetime) -> list[int]:
    """The people a customer's periodic report is mailed to: each full address bound to it (`/customer_set
    CODE email ivan@acme.ru`), as a person with that e-mail identity (made when the address never wrote).
    A bound domain names nobody: who at acme.ru reads the figures is the lead's choice, made by binding
    their address, which also lets an answer to the report reach the desk."""
    addresses = await Conversation.filter(customer=customer, channel=identities.EMAIL, kind="address").order_by(
        "bound_at", "id").values_list("ref", flat=True)
    return [(await identities.person_for(identities.EMAIL, address, now)).id for address in addresses]


async def bind_email(customer: Customer, ref: str, kind: str, person_id: int | None, now: datetime) -> Conversation:
    """Bind mail from an address (kind "address") or a whole domain ("domain") to the customer; several may
    be bound. Mail from an address bound itself goes by it, else by its domain."""
    return await bind_conversation(customer, identities.EMAIL, ref, ref, kind, person_id, now)
