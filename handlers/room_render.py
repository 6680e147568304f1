"""What an owed notice says in a chat room (eXpress, MAX): its text in the reader's language at the moment
it is sent, the buttons under it (as `handlers.chatroom.Button`, each channel draws its own), and the
message it answers. A chat-room channel calls `render` and only sends; the words are Telegram's own
(the same catalog texts and builders), so every channel says the same.

A chat room receives what a customer chat receives: the acknowledgement (with the P1–P4 buttons), a staff
answer (`reply`), what staff did (`customer`: taken, resolved with the rating buttons, reopened),
announcements and reports. A report's chart is a picture for Telegram; here the report's text says it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain import intake, lang, outbox, reports
from domain.models import Conversation, Incident, IncidentMessage, Outbox
from domain.sla import Sla
from handlers.chatroom import Button, priority_buttons, rating_buttons
from handlers.pings import ack_text
from handlers.telegram_channel import said
from locales import named, report_text, t


class Unrenderable(Exception):
    """A row a chat room cannot show (its incident or customer is gone, a kind meant for staff)."""


@dataclass(frozen=True)
class RoomNotice:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    reply_to: str | None = None  # the channel's id of the message it answers


async def conversation_of_row(row: Outbox) -> Conversation | None:
    """The chat room a row is addressed to (`outbox.conversation`), on the row's channel."""
    conversation = await outbox.addressed_conversation(row)
    return conversation if conversation is not None and conversation.channel == row.channel else None


async def reader_lang(row: Outbox, default: str) -> str:
    if row.person_id is not None:
        return await lang.of_person(row.person_id, default)
    return lang.of_chat_row(await conversation_of_row(row), default)


QUOTED = 60  # characters of the customer's words quoted above an answer that cannot be a reply


async def answering(row: Outbox, conversation: Conversation, reply_to: str | None, default: str) -> str | None:
    """For a channel that cannot send a reply (eXpress: BotX's reply call gives back no id to thread the
    customer's next reply by): a line naming whose message this answers, so in a busy chat each customer
    sees which incident is theirs."""
    if not reply_to:
        return None
    message = await IncidentMessage.get_or_none(conversation_id=conversation.id, ref=reply_to)
    if message is None:
        return None
    words = " ".join(message.text.split())
    if len(words) > QUOTED:
        words = words[:QUOTED - 1].rstrip() + "…"
    return t(await reader_lang(row, default), "answering.message_from", author=message.author or "—",
             text=words or "📎")


async def render(row: Outbox, settings, sla: Sla, now: datetime) -> RoomNotice | None:
    """The notice as the chat reads it now; None for a part that has nothing to say here (a chart)."""
    reader = await reader_lang(row, settings.default_lang)
    notice = await _words(row, reader, settings, sla, now)
    if notice is None or "rerouted" not in row.params:
        return notice
    return RoomNotice(f"{said(reader, row.params['rerouted'])}\n\n{notice.text}", notice.buttons, notice.reply_to)


async def _words(row: Outbox, reader: str, settings, sla: Sla, now: datetime) -> RoomNotice | None:
    params, kind = row.params, row.kind
    buttons_allowed = params.get("buttons") is not False
    if "text" in params:  # a direct answer (`chatroom.owe_answers`), or written before the intents: as written
        keys = tuple(tuple(Button(label, data) for label, data in line) for line in params.get("keys") or ())
        return RoomNotice(params["text"], keys if buttons_allowed else (), params.get("reply_to"))
    if kind == "reply":  # a staff member's own words, under their name
        return RoomNotice(t(reader, "reply.said", name=params.get("author") or "—", text=params["answer"]))
    if "say" in params:
        rating = params.get("buttons") == "rating" and row.incident_id is not None
        return RoomNotice(said(reader, params), rating_buttons(row.incident_id) if rating else ())
    if kind == "report":
        return await _report(row, reader, settings, sla, now)
    incident = await Incident.get_or_none(id=row.incident_id).select_related("customer")
    if incident is None:
        raise Unrenderable(f"the incident of a {kind} notice is gone")
    if kind == "ack":
        return RoomNotice(ack_text(incident, reader, sla, settings, now),
                          priority_buttons(incident.id, reader) if buttons_allowed else (), params.get("reply_to"))
    if kind == "announce":
        return RoomNotice(t(reader, "intake.announce", key=incident.key, name=incident.customer.name,
                            plan=named(reader, "words.plan", incident.plan), priority=incident.priority,
                            title=incident.title))
    raise Unrenderable(f"a {kind} notice is not for a chat room")


async def _report(row: Outbox, reader: str, settings, sla: Sla, now: datetime) -> RoomNotice | None:
    params = row.params
    if params.get("chart"):
        return None  # the picture: the report's text follows in its own row
    owed = await reports.build_owed(params, now, sla, settings.timezone)
    if owed is None:
        raise Unrenderable(f"customer {params['customer']} is gone")
    customer, built = owed
    return RoomNotice(report_text.render(built, reader, f"{customer.name} ({customer.code})", for_leads=False))


async def remember_sent(row: Outbox, conversation: Conversation, ref: str, text: str, now: datetime) -> None:
    """A message the desk wrote in the incident's chat: a customer's reply to it threads into the incident."""
    if row.incident_id is not None and row.kind != outbox.EDIT:
        await intake.record_bot_message(row.incident_id, conversation.channel, conversation.ref, ref, text, now)
