"""The Telegram channel: renders an owed notice in its reader's language when it sends it, sends it within
Telegram's limits, and judges Telegram's refusals (`domain.channels.Channel`).

* network errors and 5xx: retried with exponential backoff (1 s, 2 s, 4 s … at most 30 s: a ping must go
  out soon after Telegram is back, and a premium reaction target is only 15 minutes); a revoked token
  (401) too: the rows wait for the restart with a new one;
* 429: waits out `retry_after`, for that chat and for everyone (the limit is global);
* 403 Forbidden or "chat not found": the person or chat cannot be written to (the courier reroutes);
  a 404 names no group, so for a group it only fails the row;
* a group that became a supergroup (400 with `migrate_to_chat_id`): the chat's binding, incidents and
  notices follow the new id, and the notice is sent there at once;
* a group that forbids photos: the text goes alone; a forum topic that is gone: the chat's General topic;
* a text over Telegram's limits goes in parts (see `send`); any other refusal fails the row.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import date, datetime

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message, ReplyParameters
from tortoise.transactions import in_transaction

from domain import customers, incidents, intake, lang, outbox, people, report_chart, reports
from domain.channels import Delivered, Failed, Retry, Unreachable, Verdict
from domain.clock import Clock
from domain.identities import TELEGRAM, conversation_of, telegram_address
from domain.models import Incident, Outbox
from domain.sla import Sla
from domain.text import CAPTION_LIMIT, TEXT_LIMIT, split, units
from handlers.keyboards import priority_keyboard, rating_keyboard
from handlers.pacer import Pacer
from handlers.pings import ack_text, escalation_text, make_render, taken_text
from locales import duty_text, named, report_text, t
from locales import format as fmt

log = logging.getLogger(__name__)
MAX_BACKOFF = 30
# How Telegram says in a 400 that the bot cannot write to a chat at all (a 403 says it plainly).
UNREACHABLE = ("chat not found", "bot can't initiate", "bot is not a member", "bot was kicked",
               "have no rights to send", "not enough rights to send")
# A group that forbids photos or documents but not text (checked before UNREACHABLE, which it resembles).
MEDIA_FORBIDDEN = ("rights to send photos", "rights to send documents", "rights to send media",
                   "chat_send_photos_forbidden", "chat_send_media_forbidden")
# A forum topic that no longer takes messages.
TOPIC_GONE = ("thread not found", "topic_closed", "topic_deleted", "topic was deleted")


class Unrenderable(Exception):
    """A row this channel cannot turn into a message (its incident or report is gone, an unknown kind)."""


@dataclass(frozen=True)
class Rendered:
    text: str
    markup: InlineKeyboardMarkup | None = None
    photo: bytes | None = None
    reply_to: int | None = None
    topic: int | None = None
    edit: int | None = None  # the message to rewrite instead of sending a new one


def said(lang_: str, spec: dict) -> str:
    """A `domain.outbox.say` in words: its catalog text with each value in the reader's language."""
    args = {}
    for name, value in spec.get("args", {}).items():
        if isinstance(value, dict) and "t" in value:
            value = t(lang_, value["t"])
        elif isinstance(value, dict) and "named" in value:
            value = named(lang_, *value["named"])
        elif isinstance(value, dict) and "date" in value:
            value = fmt.date(date.fromisoformat(value["date"]))
        args[name] = value
    return t(lang_, spec["say"], **args)


def _markup(value) -> InlineKeyboardMarkup | None:
    if not value:
        return None
    return value if isinstance(value, InlineKeyboardMarkup) else InlineKeyboardMarkup.model_validate(value)


class TelegramChannel:
    name = outbox.TELEGRAM

    def __init__(self, bot: Bot, clock: Clock, settings, pacer: Pacer | None = None) -> None:
        self.bot, self.clock, self.settings = bot, clock, settings
        self.pacer = pacer or Pacer()
        self.sla = Sla(settings.policy)
        self.render_ping = make_render(settings)

    # Where a row goes: a person through their Telegram identity (`domain.identities`), a conversation by
    # its chat id now (a group that became a supergroup has the new one), the staff chat by its id.
    async def address(self, row: Outbox) -> int:
        if row.person_id is not None:
            return int(await telegram_address(row.person_id))
        if row.conversation_id is not None:
            conversation = await outbox.addressed_conversation(row)
            if conversation is None or conversation.channel != TELEGRAM:
                raise Unrenderable(f"conversation {row.conversation_id} is no Telegram chat")
            return int(conversation.ref)
        return row.chat_id

    async def reader_lang(self, row: Outbox) -> str:
        """The language of the row's reader now (`domain.lang`): a person's or a chat's."""
        if row.person_id is not None:
            return await lang.of_person(row.person_id, self.settings.default_lang)
        if row.conversation_id is not None:
            return lang.of_chat_row(await outbox.addressed_conversation(row), self.settings.default_lang)
        return lang.of_chat_row(await conversation_of(TELEGRAM, row.chat_id), self.settings.default_lang)

    # Pacing (`domain.channels.Channel`).
    async def reserve(self, row: Outbox) -> float:
        try:
            chat_id = await self.address(row)
        except Unrenderable:
            return self.pacer.monotonic()  # nowhere to pace: `send` fails the row
        return self.pacer.reserve(chat_id, lane=outbox.lane(row))

    async def until(self, slot: float) -> None:
        await self.pacer.until(slot)

    def busy(self) -> set[str]:
        return self.pacer.busy_lanes()

    # Rendering: the row's words in its reader's language at this moment.
    async def render(self, row: Outbox) -> Rendered:
        now = self.clock.now()
        reader = await self.reader_lang(row)
        if row.kind == outbox.EDIT and "text" not in row.params:
            return await self._edit(row, reader, now)
        text, markup, photo = await self._body(row, reader, now)
        params = row.params
        return Rendered(text, None if params.get("buttons") is False else _markup(markup),
                        None if params.get("no_photo") else photo, params.get("reply_to"), params.get("topic"),
                        params.get("reply_to") if row.kind == outbox.EDIT else None)

    async def _body(self, row: Outbox, reader: str, now: datetime) -> tuple[str, object, bytes | None]:
        text, markup, photo = await self._words(row, reader, now)
        if "rerouted" in row.params:  # a rerouted copy says first whose it was
            text = f"{said(reader, row.params['rerouted'])}\n\n{text}"
        return text, markup, photo

    async def _words(self, row: Outbox, reader: str, now: datetime) -> tuple[str, object, bytes | None]:
        params, kind = row.params, row.kind
        if "text" in params:  # written before the intents (migration 0012): sent as written
            photo = base64.b64decode(params["photo"]) if params.get("photo") else None
            return params["text"], params.get("markup"), photo
        if kind == "reply":  # a staff member's own words, sent as written under their name
            return t(reader, "reply.said", name=params.get("author") or "—", text=params["answer"]), None, None
        if "say" in params:
            markup = rating_keyboard(row.incident_id) if params.get("buttons") == "rating" else None
            return said(reader, params), markup, None
        if kind == "gaps":
            found = [outbox.shift_of(item) for item in params["found"]]
            return duty_text.gaps(reader, found, self.settings.timezone, now), None, None
        if kind == "handover":
            watch = incidents.most_urgent_first(
                await Incident.filter(id__in=params.get("watch", [])).select_related("customer"))
            text = duty_text.handover(reader, outbox.shift_of(params), watch, self.settings.timezone, now)
            return text, None, None
        if kind == "report":
            return await self._report(row, reader, now)
        incident = await Incident.get_or_none(id=row.incident_id).select_related("customer")
        if incident is None:
            raise Unrenderable(f"the incident of a {kind} notice is gone")
        if kind in outbox.PING_KINDS:
            text, markup = await self.render_ping.in_lang(kind, incident, reader, now)
            return text, markup, None
        if kind == "ack":
            text = ack_text(incident, reader, self.sla, self.settings, now)
            return text, priority_keyboard(incident.id, reader), None
        if kind == "announce":
            return t(reader, "intake.announce", key=incident.key, name=incident.customer.name,
                     plan=named(reader, "words.plan", incident.plan), priority=incident.priority,
                     title=incident.title), None, None
        if kind == "escalation":
            first = await intake.first_customer_message(incident.id)
            who = await people.display_name(params.get("actor"))
            return escalation_text(incident, reader, params.get("note", ""), who, first), None, None
        raise Unrenderable(f"no rendering for a {kind} notice")

    async def _report(self, row: Outbox, reader: str, now: datetime) -> tuple[str, object, bytes | None]:
        params = row.params
        owed = await reports.build_owed(params, now, self.sla, self.settings.timezone)
        if owed is None:
            raise Unrenderable(f"customer {params['customer']} is gone")
        customer, built = owed
        name = f"{customer.name} ({customer.code})"
        if params.get("chart"):
            png = None if params.get("no_photo") else \
                report_chart.render(built, report_text.chart_labels(built, reader, name))
            return report_text.title(built, reader, name), None, png
        # The chats read the report; the leads' copy (to a person) adds the recommendations.
        return report_text.render(built, reader, name, for_leads=row.person_id is not None), None, None

    async def _edit(self, row: Outbox, reader: str, now: datetime) -> Rendered:
        """A ping sent earlier, rendered again for its reader with who took it instead of what Take does, and
        only its link buttons left."""
        sent = await Outbox.get_or_none(id=row.params["of"])
        ref = None if sent is None else outbox.sent_ref(sent)
        if ref is None:
            raise Unrenderable("the ping to rewrite is gone")
        text, markup, _ = await self._body(sent, reader, now)
        at = datetime.fromisoformat(row.params["at"])
        taken = t(reader, "words.ping.taken", name=await people.display_name(row.params.get("holder")),
                  at=fmt.when(reader, at, self.settings.timezone, now))
        markup = _markup(markup) if sent.params.get("buttons") is not False else None
        links = [[b for b in line if b.url] for line in (markup.inline_keyboard if markup else [])]
        links = [line for line in links if line]
        return Rendered(taken_text(text, reader, taken), InlineKeyboardMarkup(inline_keyboard=links) if links else None,
                        edit=int(ref))

    # Sending.
    async def send(self, row: Outbox) -> Delivered:
        """Send the row, in parts when it is over Telegram's limits (a photo whose caption is too long goes
        alone, its text after it): the first part replies, the last carries the buttons, every part goes to
        the row's topic and is recorded, so a reply to any part threads. Each part but the last is written
        off the row as it goes (`outbox.part_sent` keeps the rendered rest), so a retry sends only the rest."""
        rendered = await self.render(row)
        chat_id = await self.address(row)
        if rendered.edit is not None:  # a message sent earlier, rewritten in place
            edited = await self.bot.edit_message_text(text=rendered.text, chat_id=chat_id, message_id=rendered.edit,
                                                      reply_markup=rendered.markup)
            return Delivered(str(edited.message_id if isinstance(edited, Message) else rendered.edit), rendered.text)
        text, photo, reply = rendered.text, rendered.photo, rendered.reply_to
        if row.rest is not None:  # parts went out before: only the rest is owed, without photo or reply
            text, photo, reply = row.rest, None, None
        topic, markup = rendered.topic, rendered.markup
        if photo and units(text) <= CAPTION_LIMIT:
            sent = await self._one(chat_id, text, markup, photo, reply, topic)
            return Delivered(str(sent.message_id), text)
        if photo:
            sent = await self._one(chat_id, "", None, photo, reply, topic)
            await self._part_done(row, chat_id, sent.message_id, "", text)
            reply = None
        parts = split(text, TEXT_LIMIT)
        for index, part in enumerate(parts[:-1]):
            sent = await self._one(chat_id, part, None, None, reply, topic)
            await self._part_done(row, chat_id, sent.message_id, part, "\n".join(parts[index + 1:]))
            reply = None
            await self.pacer.until(self.pacer.reserve(chat_id))  # each part keeps the chat's pace
        sent = await self._one(chat_id, parts[-1], markup, None, reply, topic)
        return Delivered(str(sent.message_id), parts[-1])

    async def _one(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None, photo: bytes | None,
                   reply_to: int | None, topic: int | None) -> Message:
        reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        if photo:
            return await self.bot.send_photo(chat_id, BufferedInputFile(bytes(photo), "report.png"),
                                             caption=text or None, reply_markup=markup, reply_parameters=reply,
                                             message_thread_id=topic)
        return await self.bot.send_message(chat_id, text, reply_markup=markup, reply_parameters=reply,
                                           message_thread_id=topic)

    async def _part_done(self, row: Outbox, chat_id: int, message_id: int, text: str, rest: str) -> None:
        async with in_transaction():
            await outbox.part_sent(row, str(message_id), rest)
            if text:
                await self._thread(row, chat_id, message_id, text)

    async def record(self, row: Outbox, delivered: Delivered) -> None:
        if row.kind != outbox.EDIT and delivered.ref is not None:  # an edited message was recorded when first sent
            await self._thread(row, await self.address(row), int(delivered.ref), delivered.text)

    async def _thread(self, row: Outbox, chat_id: int, message_id: int, text: str) -> None:
        if row.incident_id is not None and (chat_id <= 0 or row.kind == "ack"):
            # A message in the incident's chat: a customer's reply to it threads into the incident.
            await intake.record_bot_message(row.incident_id, TELEGRAM, str(chat_id), str(message_id), text,
                                            self.clock.now())

    # Refusals.
    async def classify(self, row: Outbox, error: BaseException) -> Verdict | None:
        if isinstance(error, Unrenderable):
            return Failed(str(error))
        if isinstance(error, TelegramRetryAfter):
            self.pacer.pause(await self.address(row), error.retry_after)
            return Retry("429", error.retry_after)
        if isinstance(error, TelegramMigrateToChat):
            return await self._moved(row, error.migrate_to_chat_id)
        if isinstance(error, TelegramForbiddenError):
            return Unreachable(str(error))
        if isinstance(error, TelegramNotFound):
            # A 404 names no group: it must not mark a customer chat as lost.
            return Unreachable(str(error)) if row.person_id is not None else Failed(str(error))
        if isinstance(error, TelegramBadRequest):
            reason = str(error).lower()
            if self._has_photo(row) and any(sign in reason for sign in MEDIA_FORBIDDEN):
                # The group forbids media (a common anti-spam setting), not the bot: the text goes alone.
                return Retry(str(error), 0, {"params": {**row.params, "no_photo": True}})
            if any(sign in reason for sign in UNREACHABLE):
                return Unreachable(str(error))
            if row.params.get("topic") is not None and any(sign in reason for sign in TOPIC_GONE):
                # The topic was deleted or closed: the notice goes to the chat's General topic, not nowhere.
                params = {name: value for name, value in row.params.items() if name != "topic"}
                return Retry(str(error), 0, {"params": params})
            return Failed(str(error))
        if isinstance(error, TelegramEntityTooLarge):  # a 413 is no network trouble: sending it again cannot help
            return Failed(str(error))
        if isinstance(error, TelegramNetworkError | TelegramServerError | TelegramUnauthorizedError | OSError |
                      TimeoutError):
            return Retry(f"{type(error).__name__}: {error}", min(2 ** max(row.attempts - 1, 0), MAX_BACKOFF))
        if isinstance(error, TelegramAPIError):  # any other answer Telegram gives is final for this row
            return Failed(str(error))
        return None

    @staticmethod
    def _has_photo(row: Outbox) -> bool:
        params = row.params
        return row.rest is None and not params.get("no_photo") and bool(params.get("chart") or params.get("photo"))

    async def _moved(self, row: Outbox, new_chat_id: int) -> Retry:
        """The group became a supergroup: the binding, its incidents and its notices (this one too) follow
        the new id, and this notice goes out there at once. A conversation's rows need not move (they name
        the conversation, whose address changed); the staff chat's do."""
        old = await self.address(row)
        await customers.move_conversation(TELEGRAM, str(old), str(new_chat_id))
        if old == self.settings.staff_chat_id:
            log.error("the staff chat %s became the supergroup %s: set STAFF_CHAT_ID=%s", old,
                      new_chat_id, new_chat_id)
        log.warning("outbox %s: chat %s moved to %s; sending there", row.id, old, new_chat_id)
        params = {name: value for name, value in row.params.items() if name != "reply_to"}
        changes = {"params": params} if row.chat_id is None else {"chat_id": new_chat_id, "params": params}
        return Retry(f"chat moved to {new_chat_id}", 0, changes)
