"""Whose language a text is written in: one rule for a person, one for a chat.

A person reads their /lang choice, else their Telegram app's language, else DEFAULT_LANG. A chat reads
its own /lang, else its customer's language, else DEFAULT_LANG. Every text the desk writes, answered
at once or queued for later, asks one of these two.
"""

from __future__ import annotations

from domain.models import Conversation, Person

LANGS = ("ru", "en")


def supported(code: str | None) -> str | None:
    """`ru`, `en` from a Telegram `language_code` such as `en-US`; None for anything else."""
    if not code:
        return None
    code = code[:2].lower()
    return code if code in LANGS else None


def decide_person(chosen: str | None, telegram: str | None, default: str) -> str:
    return supported(chosen) or supported(telegram) or default


def decide_chat(chat: str | None, customer: str | None, default: str) -> str:
    return supported(chat) or supported(customer) or default


def of_person_row(person: Person | None, default: str) -> str:
    if person is None:
        return default
    return decide_person(person.lang, person.tg_lang, default)


async def of_person(user_id: int, default: str) -> str:
    return of_person_row(await Person.get_or_none(id=user_id), default)


def of_chat_row(chat: Conversation | None, default: str) -> str:
    """`chat` a customer's conversation with its customer loaded, or None for one bound to no customer."""
    if chat is None or chat.customer_id is None:
        return default
    return decide_chat(chat.lang, chat.customer.lang, default)


async def of_conversation(conversation_id: int, default: str) -> str:
    return of_chat_row(await Conversation.get_or_none(id=conversation_id).select_related("customer"), default)
