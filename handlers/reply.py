"""Staff answer a customer from their private chat with the bot, whatever channel the incident came by:
`/reply KEY TEXT`, or a Telegram reply to the bot's ping (or another DM about the incident) with the text."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import Message

from domain import customers, incidents, outbox, people
from domain.errors import DeskError
from domain.models import Incident
from domain.text import clean
from handlers.args import args_of, cmd, looks_like_command
from handlers.desk import Desk
from handlers.pings import tell_customer_chat
from handlers.replies import respond
from locales import t


def reply_notice(now: datetime, text: str, author: str, ref: str, by: int | None = None):
    """The answer owed to the customer on the incident's channel (its chat and topic, or the reporter's
    address), keyed by the answer so a retried update owes it once; `by` (who wrote it) is told if the
    answer is refused for good."""
    async def owe(incident: Incident) -> None:
        await tell_customer_chat(incident, {"answer": text.strip(), "author": author, "by": by}, now, "reply",
                                 dedupe=f"reply:{incident.id}:{ref}")
    return owe


# What a staff message may carry besides text. Only the text of an answer goes to the customer (a file
# would need each channel to carry it): the engineer is told so, never left to think the file went.
FILE_FIELDS = ("document", "photo", "video", "audio", "voice", "video_note", "animation", "sticker")


async def answer(message: Message, incident: Incident, text: str, actor: people.Actor, desk: Desk) -> None:
    has_file = any(getattr(message, name, None) for name in FILE_FIELDS)
    if has_file and not text.strip():
        raise DeskError("mailfix.file_only", key=incident.key)
    if await customers.chat_gone(incident):  # it would be dropped unsent: say so now, store nothing
        raise DeskError("unbind2.reply_chat_gone", key=incident.key)
    now = desk.now()
    ref = f"reply:{message.chat.id}:{message.message_id}"  # the command's own message names the answer
    author = await people.display_name(actor.user_id)
    answered = await incidents.answer(incident, actor.user_id, author, text, ref, now,
                                      reply_notice(now, text, author, ref, actor.user_id))
    desk.trace["incident"] = answered.key
    desk.wake_outbox()
    done = t(desk.lang, "reply.done", key=answered.key)
    if has_file:
        done += "\n" + t(desk.lang, "mailfix.file_not_sent")
    await respond(message, done)


async def reply(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    words = args_of(command).strip().split(maxsplit=1)
    if not words or not incidents.looks_like_key(words[0]):
        raise DeskError("usage.reply")
    incident = await incidents.by_key(words[0])
    await answer(message, incident, words[1] if len(words) > 1 else "", actor, desk)


async def private_reply(message: Message, actor: people.Actor, desk: Desk) -> bool:
    """A staff member's Telegram reply, in their private chat, to the bot's message about an incident: the
    same as `/reply KEY` with its text. False when the replied message is about no incident."""
    replied = message.reply_to_message
    if not actor.is_staff or message.chat.type != "private" or replied is None:
        return False
    incident_id = await outbox.incident_of_sent(actor.user_id, replied.message_id)
    if incident_id is None:
        key = card_key(replied)
        incident = await Incident.get_or_none(key=key).select_related("customer") if key else None
    else:
        incident = await Incident.get_or_none(id=incident_id).select_related("customer")
    if incident is None:
        return False
    await answer(message, incident, clean(message.text or message.caption or ""), actor, desk)
    return True


def card_key(replied: Message) -> str | None:
    """The key an incident card sent by the bot starts with (a card is an answer, not an outbox row)."""
    if replied.from_user is None or not replied.from_user.is_bot or not replied.text:
        return None
    first = replied.text.split(maxsplit=1)[0] if replied.text.split() else ""
    first = first.strip("*_:,.·—")
    return first.upper() if incidents.looks_like_key(first) else None


def build_router() -> Router:
    router = Router(name="reply")
    router.message.filter(looks_like_command)
    router.message.register(reply, cmd("reply"))
    return router
