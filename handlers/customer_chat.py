"""Messages in groups and private chats that are not commands."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message

from domain import inbox, people
from handlers.common import help_text
from handlers.incoming import incoming
from handlers.replies import respond
from locales import t


async def private_message(message: Message, actor: people.Actor, lang: str) -> None:
    """In private, anyone who is not a bound customer gets the help for their role and nothing more."""
    if actor.chat is None:
        await respond(message, help_text(actor.role, lang, False))


async def group_message(message: Message, actor: people.Actor, lang: str, clock) -> None:
    if actor.chat is None:
        if actor.is_staff:
            return  # vendor staff talking in a group nobody has bound yet
        if await inbox.keep_unbound(incoming(message, clock.now()), clock.now()):
            await respond(message, t(lang, "unbound.notice"))


def build_router() -> Router:
    router = Router(name="customer_chat")
    router.message.register(private_message, F.chat.type == "private")
    router.message.register(group_message, F.chat.type.in_({"group", "supergroup"}))
    return router
