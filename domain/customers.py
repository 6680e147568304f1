"""Customers, their settings, and the chats bound to them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from domain import incidents, invitations, outbox
from domain.errors import DeskError
from domain.models import Customer, CustomerChat, Incident, Staff
from domain.people import resolve_person
from domain.policy import HA_SETUPS, PLANS, Tariff
from domain.sla import Sla

CODE = re.compile(r"^[A-Z0-9_]{2,16}$")
REPORT_PERIODS = ("off", "weekly", "monthly", "quarterly")
FIELDS = ("name", "plan", "users", "cts", "ha", "tz", "lang", "report", "contract_until", "engineer", "contact")
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


async def chats_of(customer: Customer) -> list[CustomerChat]:
    return await CustomerChat.filter(customer=customer).order_by("bound_at")


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


async def invite_chat(code: str, lead_id: int, now: datetime) -> tuple[Customer, str]:
    customer = await get_customer(code)
    return customer, await invitations.create("chat", lead_id, now, customer=customer)


async def bind_chat(customer: Customer, chat_id: int, title: str, kind: str, user_id: int,
                    now: datetime) -> CustomerChat:
    existing = await CustomerChat.get_or_none(chat_id=chat_id).select_related("customer")
    if existing is not None:
        if existing.customer_id == customer.id:
            raise DeskError("err.already_bound_same", code=customer.code)
        raise DeskError("err.already_bound", code=existing.customer.code)
    return await CustomerChat.create(
        chat_id=chat_id, customer=customer, title=title[:256], kind=kind, bound_at=now, bound_by=user_id
    )


async def bind_by_code(code: str, chat_id: int, title: str, kind: str, user_id: int,
                       now: datetime) -> CustomerChat:
    return await bind_chat(await get_customer(code), chat_id, title, kind, user_id, now)


async def bind_by_invitation(token: str, chat_id: int, title: str, kind: str, user_id: int,
                             now: datetime) -> CustomerChat:
    async with in_transaction():
        invitation = await invitations.redeem(token, "chat", user_id, chat_id, now)
        return await bind_chat(invitation.customer, chat_id, title, kind, user_id, now)


async def unbind(chat_id: int) -> Customer:
    chat = await CustomerChat.get_or_none(chat_id=chat_id).select_related("customer")
    if chat is None:
        raise DeskError("err.not_bound")
    await chat.delete()
    return chat.customer


async def set_chat_lang(chat: CustomerChat, lang: str) -> None:
    chat.lang = lang
    await chat.save(update_fields=["lang"])



async def chat_of(chat_id: int) -> CustomerChat | None:
    """The customer chat with this Telegram id, with its customer; None for any other chat."""
    return await CustomerChat.get_or_none(chat_id=chat_id).select_related("customer")


# How long a chat the bot could not write to is given up without asking Telegram. Then one send is tried
# again: Telegram says nothing when a mute ends, and a chat must not stay deaf for good because of one.
RETRY_UNREACHABLE = timedelta(hours=1)


async def unreachable_since(chat_id: int) -> datetime | None:
    chat = await CustomerChat.get_or_none(chat_id=chat_id).only("id", "unreachable_since")
    return chat.unreachable_since if chat else None


async def is_unreachable(chat_id: int, now: datetime | None = None) -> bool:
    """Unreachable now; with `now`, only while the last refusal is fresher than RETRY_UNREACHABLE."""
    since = await unreachable_since(chat_id)
    return since is not None and (now is None or now - since < RETRY_UNREACHABLE)


Tell = Callable[[CustomerChat], Awaitable[None]]


async def set_reachable(chat_id: int, reachable: bool, now: datetime, tell: Tell) -> CustomerChat | None:
    """The bot was removed from a customer chat (or muted there), or is back. Only a change counts: `tell`
    owes the leads' notice in the same transaction, so a repeated update or two instances tell them once.
    Returns the chat when its state changed, else None (also for a chat bound to nobody)."""
    async with in_transaction():
        changed = await CustomerChat.filter(chat_id=chat_id, unreachable_since__isnull=not reachable).update(
            unreachable_since=None if reachable else now)
        if not changed:
            if not reachable:  # refused again after a retry: given up for another while, nobody told twice
                await CustomerChat.filter(chat_id=chat_id).update(unreachable_since=now)
            return None
        chat = await chat_of(chat_id)
        await tell(chat)
        return chat


async def move_chat(old: int, new: int) -> CustomerChat | None:
    """A group upgraded to a supergroup gets a new id (Telegram tells it three ways: `migrate_to_chat_id`
    in the old group, `migrate_from_chat_id` in the new one, and an error on a send to the old id). The
    binding, the chat's incidents and its notices not yet sent follow the new id, in one transaction;
    doing it twice changes nothing.

    Stored messages keep the id of the chat they were written in: the supergroup numbers its messages
    afresh, so (new id, old message id) would collide with a later message of the supergroup and make it
    look like one seen before. Notices lose their reply: the message replied to stays in the old group."""
    if old == new:
        return None
    async with in_transaction():
        chat = await CustomerChat.get_or_none(chat_id=old)
        if chat is not None:
            if await CustomerChat.exists(chat_id=new):
                await chat.delete()  # the new chat was bound meanwhile (/bind in it): that binding stands
            else:
                await CustomerChat.filter(id=chat.id).update(chat_id=new, kind="supergroup", unreachable_since=None)
        await Incident.filter(chat_id=old).update(chat_id=new)
        await outbox.move_chat(old, new)
    return await chat_of(new) if chat is not None else None
