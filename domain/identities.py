"""Identities and conversations: the one place that goes between a channel's own addresses and the desk's
people and conversations.

A person has identities, `(channel, ref)` -> person; a customer has conversations, `(channel, ref)`.
A `ref` is always the channel's own address as a string: a Telegram user or chat id, an e-mail address or
domain (lower-case). Person ids are internal and carry no meaning: people first seen on Telegram keep
their Telegram user id (so history written before channels stays valid), people first seen elsewhere get
negative ids. To reach a person, ask for their address on a channel (`address_of`), never use the id.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from domain.models import Conversation, Identity, Person
from domain.text import shown

TELEGRAM = "telegram"
EMAIL = "email"
CHANNELS = (TELEGRAM, EMAIL, "express", "max")


def normalize_ref(channel: str, ref: str | int) -> str:
    """Addresses compare as the channel compares them: e-mail addresses and domains case-insensitively."""
    text = str(ref).strip()
    return text.lower() if channel == EMAIL else text


async def person_of(channel: str, ref: str | int) -> Person | None:
    """The person with this identity, or None when the desk has never seen it."""
    identity = await Identity.get_or_none(channel=channel, ref=normalize_ref(channel, ref)).select_related("person")
    return identity.person if identity else None


async def person_for(channel: str, ref: str | int, now: datetime, full_name: str = "") -> Person:
    """The person with this identity, created (with the identity) if new. Safe when two workers meet the
    same new identity at once: the loser of the race finds the winner's person."""
    ref = normalize_ref(channel, ref)
    for _ in range(5):
        found = await person_of(channel, ref)
        if found is not None:
            return found
        try:
            async with in_transaction():
                person = await _new_person(channel, ref, now, full_name)
                await Identity.create(channel=channel, ref=ref, person=person)
                return person
        except IntegrityError:
            continue  # another worker took the identity (or the negative id) first: look again
    raise RuntimeError(f"could not create a person for a {channel} identity")


async def _new_person(channel: str, ref: str, now: datetime, full_name: str) -> Person:
    full_name = shown(full_name)  # whichever channel named them (a MAX dialog, an eXpress press): storable
    if channel == TELEGRAM:
        # A Telegram user keeps their user id: rotations, staff rows and events written before channels
        # name people by it. A person row may exist already without its identity (written before 0011).
        person, _ = await Person.get_or_create(id=int(ref), defaults={"full_name": full_name[:256], "last_seen": now})
        return person
    lowest = await Person.filter(id__lt=0).order_by("id").first()
    return await Person.create(id=(lowest.id if lowest else 0) - 1, full_name=full_name[:256], last_seen=now)


async def telegram_person_id(user_id: str | int) -> int:
    """The person a Telegram user is, or will be when first seen (a lead may name someone by their
    Telegram id before they ever wrote): people first seen on Telegram keep their user id."""
    person = await person_of(TELEGRAM, user_id)
    return person.id if person is not None else int(normalize_ref(TELEGRAM, user_id))


async def telegram_address(person_id: int) -> str:
    """Where a Telegram DM to this person goes: their Telegram identity; a person named by their Telegram
    user id (in LEAD_IDS, or by a lead) before they ever wrote has none yet, and is that user."""
    return await address_of(person_id, TELEGRAM) or str(person_id)


async def address_of(person_id: int, channel: str) -> str | None:
    """This person's address on `channel` (e.g. their Telegram user id, as text), None when they have none."""
    return await Identity.filter(person_id=person_id, channel=channel).order_by("id").first().values_list(
        "ref", flat=True)


async def addresses_of(person_id: int) -> dict[str, str]:
    """Every channel this person can be reached on, with their address there."""
    rows = await Identity.filter(person_id=person_id).order_by("-id").values_list("channel", "ref")
    return dict(rows)


async def conversation_of(channel: str, ref: str | int) -> Conversation | None:
    """The conversation bound to a customer at this address, with its customer; None for any other."""
    return await Conversation.get_or_none(
        channel=channel, ref=normalize_ref(channel, ref), customer_id__isnull=False).select_related("customer")


async def people_of(channel: str, refs: list[str]) -> dict[str, Person]:
    """`person_of` for many identities in one query: ref → person, for those the desk has seen."""
    rows = await Identity.filter(channel=channel, ref__in=[normalize_ref(channel, r) for r in refs]
                                 ).select_related("person")
    return {row.ref: row.person for row in rows}


async def conversations_of(channel: str, refs: list[str]) -> dict[str, Conversation]:
    """`conversation_of` for many addresses in one query: ref → the bound conversation, with its customer."""
    rows = await Conversation.filter(channel=channel, ref__in=[normalize_ref(channel, r) for r in refs],
                                     customer_id__isnull=False).select_related("customer")
    return {row.ref: row for row in rows}


async def any_conversation(channel: str, ref: str | int) -> Conversation | None:
    """The conversation at this address, bound or not (an unbound one still holds its old incidents)."""
    return await Conversation.get_or_none(channel=channel, ref=normalize_ref(channel, ref))
