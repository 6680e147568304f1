"""The bot's own place in chats: removed from a customer group or back in it (`my_chat_member`), a person
who blocked the bot or unblocked it, and a group upgraded to a supergroup (a new chat id)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, F, Router
from aiogram.types import ChatMemberUpdated, Message, TelegramObject

from domain import alerts, customers, outbox, people
from domain.identities import TELEGRAM, conversation_of, person_of
from handlers.desk import Desk

GONE = ("left", "kicked")


def can_write(event: ChatMemberUpdated) -> bool:
    """Whether the bot may still post in the chat: a member or admin, not removed, not muted."""
    member = event.new_chat_member
    if member.status in GONE:
        return False
    return member.status != "restricted" or bool(getattr(member, "can_send_messages", False))


def staff_blocked_notice(settings, user_id: int, now):
    """The leads hear that a staff member blocked the bot: their pings reach them no more by DM."""
    async def tell() -> None:
        name = await people.display_name(user_id)
        for lead_id in await alerts.leads(settings.lead_ids):
            if lead_id != user_id:
                await outbox.enqueue("notice", outbox.person(lead_id), now,
                                     params=outbox.say("edges_outbox.staff_blocked", name=name))
    return tell


def deafness_notice(settings, chat_id: int, now):
    """The leads hear that the bot, with group privacy on, lost the admin rights that let it read a customer
    chat: from now on it sees only commands and replies to it there."""
    async def tell() -> None:
        chat = await conversation_of(TELEGRAM, str(chat_id))
        if chat is None:
            return
        for lead_id in await alerts.leads(settings.lead_ids):
            await outbox.enqueue("notice", outbox.person(lead_id), now, params=outbox.say(
                "edges_outbox.chat_deaf", code=chat.customer.code, name=chat.customer.name),
                dedupe=f"deaf:{chat_id}:{int(now.timestamp())}:{lead_id}")
    return tell


async def bot_membership(event: ChatMemberUpdated, desk: Desk, bot: Bot) -> None:
    now = desk.now()
    if event.chat.type == "private":  # the person blocked the bot, or unblocked it (/start comes too)
        person = await person_of(TELEGRAM, str(event.chat.id))
        if person is not None:
            await people.blocked_bot(person.id, event.new_chat_member.status == "kicked", now,
                                     staff_blocked_notice(desk.settings, person.id, now))
        return
    reachable = can_write(event)
    # Only a bound chat changes, and only on a change are the leads told: pings for the customer go on.
    await customers.set_reachable(TELEGRAM, str(event.chat.id), reachable, now,
                                  desk.chat_notice(desk.settings, reachable, now))
    was_admin = event.old_chat_member.status in ("administrator", "creator")
    if reachable and was_admin and event.new_chat_member.status not in ("administrator", "creator"):
        me = await bot.me()
        if not me.can_read_all_group_messages:  # privacy on: only admin rights let it read the chat
            await deafness_notice(desk.settings, event.chat.id, now)()


def migration_of(message: Message) -> tuple[int, int] | None:
    """(old id, new id) from either service message of a group's upgrade to a supergroup."""
    if message.migrate_to_chat_id:
        return message.chat.id, message.migrate_to_chat_id
    if message.migrate_from_chat_id:
        return message.migrate_from_chat_id, message.chat.id
    return None


class ChatMigration(BaseMiddleware):
    """Outer middleware on messages, ahead of the desk's: a group's upgrade moves its binding, incidents
    and owed notices to the new id before anything else is looked up. It runs before the check of who
    wrote because the upgrade may be done by an anonymous admin, whose messages come from a bot account."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        moved = migration_of(event) if isinstance(event, Message) else None
        if moved is None:
            return await handler(event, data)
        await customers.move_conversation(TELEGRAM, *map(str, moved))
        return None


def build_router() -> Router:
    router = Router(name="membership")
    router.my_chat_member.register(bot_membership, F.new_chat_member)
    return router
