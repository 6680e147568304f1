"""Customer chats: intake of every message, /new and /status, priority and rating buttons, edits,
staff answers; and the unbound inbox for groups bound to nobody."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, Message

from domain import inbox, incidents, intake, people
from domain.errors import DeskError
from domain.identities import TELEGRAM, any_conversation
from domain.models import Incident
from domain.text import clean
from handlers.args import args_of, cmd, looks_like_command
from handlers.common import help_text
from handlers.desk import Desk
from handlers.formatting import time_left, zone_of
from handlers.incoming import incoming, is_service
from handlers.keyboards import PriorityButton, RateButton
from handlers.pings import reopened_notice
from handlers.replies import respond
from handlers.reply import private_reply
from locales import format as fmt
from locales import t


async def in_this_chat(incident: Incident, chat_id: int) -> bool:
    """The incident belongs to the conversation of this Telegram chat (a button pressed where it was sent)."""
    chat = await any_conversation(TELEGRAM, str(chat_id))
    return chat is not None and chat.id == incident.conversation_id


def windows(settings) -> intake.Windows:
    return intake.Windows(thread=settings.thread_window, reopen=settings.reopen_window)


async def take_in(message: Message, actor: people.Actor, desk: Desk, force_new: bool = False,
                  text: str | None = None) -> None:
    now = desk.now()
    msg = incoming(message, now, actor.user_id)
    if text is not None:
        msg = msg.__class__(**{**msg.__dict__, "text": text})
    result = await intake.record_customer_message(msg, actor.chat, desk.sla, windows(desk.settings), now,
                                                  force_new=force_new, on_created=desk.on_created,
                                                  on_reopened=reopened_notice(desk.settings, now))
    if result.duplicate or result.incident is None:
        return
    desk.trace["incident"] = result.incident.key
    desk.wake_outbox()  # the acknowledgement or the reopen notice, owed with the message, goes out now


async def chat_message(message: Message, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    if is_service(message):
        return  # someone joined, left, pinned or renamed: nobody wrote to support
    if actor.chat is None:
        if message.chat.type == "private":
            if not await private_reply(message, actor, desk):  # a reply to a ping answers its customer
                await respond(message, help_text(actor.role, lang, False))
        elif not actor.is_staff and await inbox.keep_unbound(incoming(message, desk.now(), actor.user_id), desk.now(),
                                                             desk.settings.retention.unbound_per_chat):
            await respond(message, t(lang, "unbound.notice"))
        return
    if actor.is_staff:
        await staff_answer(message, actor, desk)
        return
    await take_in(message, actor, desk)


async def staff_answer(message: Message, actor: people.Actor, desk: Desk) -> None:
    """A staff member's plain message is the first response to the incident it answers."""
    msg = incoming(message, desk.now(), actor.user_id)
    incident = await intake.incident_of_message(actor.chat.id, msg.reply_to)
    if incident is None:
        incident = await incidents.awaiting_response(actor.chat.id, msg.topic, actor.chat.customer_id)
    if incident is None or incident.status not in intake.OPEN:
        return  # staff chatter that answers no open incident
    await incidents.staff_message(incident, actor.user_id, msg.author, actor.chat.id, msg.ref, msg.text,
                                  msg.attachments, desk.now())


async def new_incident(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    if actor.chat is None:  # the command table refuses this too; intake needs the customer's chat
        raise DeskError("refuse.customer_chat_only", command="new")
    text = args_of(command).strip()
    if not text:
        raise DeskError("usage.new")
    await take_in(message, actor, desk, force_new=True, text=text)


async def status(message: Message, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    open_here = await incidents.in_chat(actor.chat.id, actor.chat.customer_id)
    if not open_here:
        await respond(message, t(lang, "status.none"))
        return
    lines = [t(lang, "status.header")]
    zone = zone_of(actor.chat.customer, desk.settings)
    for incident in open_here:
        if incident.assignee_id:
            who = t(lang, "status.taken", name=await people.display_name(incident.assignee_id))
        elif incident.responded_at is None and incident.deadline:
            who = t(lang, "status.waiting_until", deadline=fmt.when(lang, incident.deadline, zone, desk.now()),
                    left=time_left(lang, incident.deadline, desk.now()))
        else:
            who = t(lang, "status.waiting")
        lines.append(t(lang, "status.row", key=incident.key, priority=incident.priority,
                       status=t(lang, f"state.{incident.status}"), who=who, title=incident.title))
    await respond(message, "\n".join(lines))


async def edited(message: Message, desk: Desk) -> None:
    text = clean(message.text or message.caption or "")
    await intake.record_edit(TELEGRAM, str(message.chat.id), str(message.message_id), text, desk.now())


async def priority_pressed(query: CallbackQuery, callback_data: PriorityButton, actor: people.Actor,
                           desk: Desk) -> None:
    lang = desk.lang
    incident = await Incident.get_or_none(id=callback_data.incident).select_related("customer")
    if incident is None or query.message is None or not await in_this_chat(incident, query.message.chat.id):
        raise DeskError("err.button_stale")
    if not actor.is_staff and actor.user_id != incident.reporter_id:
        raise DeskError("err.not_your_button")
    updated = await incidents.set_priority(incident, callback_data.priority, actor.user_id, desk.now(), desk.sla)
    await query.answer(t(lang, "priority.changed", key=updated.key, priority=updated.priority))
    await query.message.answer(priority_changed_text(updated, lang, desk.settings, desk.now()))


def priority_changed_text(incident: Incident, lang: str, settings, now) -> str:
    text = t(lang, "priority.changed_chat", key=incident.key, priority=incident.priority,
             meaning=t(lang, f"priority.{incident.priority}"))
    if incident.responded_at is None and incident.deadline:
        zone = zone_of(incident.customer, settings)
        text += "\n" + t(lang, "words.status.due", deadline=fmt.when(lang, incident.deadline, zone, now))
    return text


async def rate_pressed(query: CallbackQuery, callback_data: RateButton, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    if actor.is_staff:
        raise DeskError("err.staff_cannot_rate")
    incident = await Incident.get_or_none(id=callback_data.incident)
    if incident is None or query.message is None or not await in_this_chat(incident, query.message.chat.id):
        raise DeskError("err.button_stale")
    rated = await incidents.rate(incident.id, actor.user_id, callback_data.stars, desk.now())
    await query.answer(t(lang, "rating.thanks", key=rated.key, stars=rated.rating))


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
