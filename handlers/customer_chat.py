"""Customer chats: intake of every message, /new and /status, priority and rating buttons, edits,
staff answers; and the unbound inbox for groups bound to nobody."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, Message

from domain import chatroom as domain_chatroom
from domain import inbox, intake, people
from domain.errors import DeskError
from domain.identities import TELEGRAM, any_conversation
from domain.models import Conversation
from domain.text import clean, has_words
from handlers import chatroom
from handlers.args import args_of, cmd, looks_like_command
from handlers.chatroom import priority_changed_text
from handlers.common import help_text
from handlers.desk import Desk
from handlers.incoming import incoming, is_service
from handlers.keyboards import PriorityButton, RateButton
from handlers.replies import respond
from handlers.reply import private_reply
from locales import t


async def take_in(message: Message, actor: people.Actor, desk: Desk, force_new: bool = False,
                  text: str | None = None) -> None:
    msg = incoming(message, desk.now(), actor.user_id)
    if text is not None:
        msg = msg.__class__(**{**msg.__dict__, "text": text})
    await chatroom.take_in(msg, actor.chat, desk, force_new)


async def chat_message(message: Message, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    if is_service(message):
        return  # someone joined, left, pinned or renamed: nobody wrote to support
    if actor.chat is None:
        if message.chat.type == "private":
            if not await private_reply(message, actor, desk):  # a reply to a ping answers its customer
                await respond(message, help_text(actor.role, lang, False))
        elif actor.is_staff:
            if await domain_chatroom.unbound_with_open_incidents(TELEGRAM, str(message.chat.id)):
                await respond(message, t(actor.lang, "unbind2.staff_in_unbound"))  # in their language
        elif await inbox.keep_unbound(incoming(message, desk.now(), actor.user_id), desk.now(),
                                      desk.settings.retention.unbound_per_chat):
            await respond(message, t(lang, "unbound.notice"))
        return
    if actor.is_staff:
        await staff_answer(message, actor, desk)
        return
    await take_in(message, actor, desk)


async def staff_answer(message: Message, actor: people.Actor, desk: Desk) -> None:
    """A staff member's plain message is the first response to the incident it answers."""
    told = await chatroom.staff_answer(incoming(message, desk.now(), actor.user_id), actor.chat, actor.user_id, desk)
    if told:
        await respond(message, t(actor.lang, told))  # in their language


async def new_incident(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    if actor.chat is None:  # the command table refuses this too; intake needs the customer's chat
        raise DeskError("refuse.customer_chat_only", command="new")
    text = args_of(command).strip()
    if not has_words(text):
        raise DeskError("usage.new")
    await take_in(message, actor, desk, force_new=True, text=text)


async def status(message: Message, actor: people.Actor, desk: Desk) -> None:
    await respond(message, await chatroom.status_text(actor.chat, desk.lang, desk))


async def edited(message: Message, desk: Desk) -> None:
    text = clean(message.text or message.caption or "")
    await intake.record_edit(TELEGRAM, str(message.chat.id), str(message.message_id), text, desk.now())


async def priority_pressed(query: CallbackQuery, callback_data: PriorityButton, actor: people.Actor,
                           desk: Desk) -> None:
    lang = desk.lang
    if query.message is None:
        raise DeskError("err.button_stale")
    here = await _here(query)
    updated = await domain_chatroom.press_priority(callback_data.incident, callback_data.priority, here, actor,
                                                   desk.now(), desk.sla)
    await query.answer(t(lang, "priority.changed", key=updated.key, priority=updated.priority))
    text = priority_changed_text(updated, lang, desk.settings, desk.now())
    if here is not None and updated.conversation_id != here.id:
        # Pressed under a message from before the group's upgrade: the old id takes no messages any more.
        chat = await Conversation.get(id=updated.conversation_id)
        await query.bot.send_message(int(chat.ref), text)
        return
    await query.message.answer(text)


async def _here(query: CallbackQuery) -> Conversation | None:
    """The conversation of the chat a button was pressed in."""
    return await any_conversation(TELEGRAM, str(query.message.chat.id)) if query.message else None


async def rate_pressed(query: CallbackQuery, callback_data: RateButton, actor: people.Actor, desk: Desk) -> None:
    rated = await domain_chatroom.press_rating(callback_data.incident, callback_data.stars, await _here(query),
                                               actor, desk.now())
    await query.answer(t(desk.lang, "rating.thanks", key=rated.key, stars=rated.rating))


async def unknown_button(query: CallbackQuery, desk: Desk) -> None:
    lang = desk.lang
    await query.answer(t(lang, "err.bad_button"), show_alert=True)


def build_router() -> Router:
    router = Router(name="customer_chat")
    router.message.register(new_incident, looks_like_command, cmd("new"))
    router.message.register(status, looks_like_command, cmd("status"))
    router.message.register(chat_message, F.chat.type.in_({"private", "group", "supergroup"}))
    router.edited_message.register(edited)
    router.callback_query.register(priority_pressed, PriorityButton.filter())
    router.callback_query.register(rate_pressed, RateButton.filter())
    router.callback_query.register(unknown_button)
    return router
