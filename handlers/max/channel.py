"""The MAX channel (`domain.channels.Channel`): owed notices to customers' MAX chats, rendered in the chat's
language when they are sent and sent through MAX's Bot API (`maxapi`).

A row is for a customer's conversation (a MAX group chat: its `ref` is the chat id) or for a person (their MAX
identity's user id). MAX lets a bot write to a person only after that person wrote to the bot in a dialog:
a row for a person who never did is refused by MAX and counts as unreachable, so the courier sends what was
owed to the staff chat and the leads instead; the desk never assumes a DM works.

* The acknowledgement carries the P1–P4 buttons and a resolved incident's notice the 1–5 rating, as MAX inline
  keyboards whose payloads are the chat-room layer's button data (`handlers.chatroom.action`): a press comes
  back as a `RoomPress`.
* The message the desk sends in a chat about an incident is recorded under its `mid`, so a customer's reply to
  it threads into the incident; the acknowledgement replies to the customer's message (`link` of type reply).
* Refusals: 429 waits (for everyone), network trouble and 5xx are retried with backoff (at most 30 s), 401 too
  (the rows wait for a restart with a good token); 403 (`chat.denied`, the bot removed from the chat, a person
  who never wrote) and 404 for a chat make the recipient unreachable; any other 4xx fails the row.
* Pacing: MAX allows 30 requests a second; one message a second per chat keeps a chat readable.
* A text over MAX's 4000 characters goes in parts; each part but the last is written off the row as it goes.
* A report's chart is uploaded as a picture (`POST /uploads`) and sent with the report's title; an upload
  MAX refuses for good sends the title alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from maxapi import Bot
from maxapi.enums.upload_type import UploadType
from maxapi.exceptions.max import InvalidToken, MaxApiError, MaxConnection, MaxUploadFileFailed
from maxapi.methods.send_message import SendMessage
from maxapi.types.attachments.buttons import CallbackButton
from maxapi.types.input_media import InputMediaBuffer
from maxapi.types.message import NewMessageLink
from maxapi.utils.inline_keyboard import InlineKeyboardBuilder

from domain import identities, outbox, report_chart, reports
from domain.channels import Delivered, Failed, Retry, Unreachable, Verdict
from domain.clock import Clock
from domain.models import Conversation, Outbox
from domain.sla import Sla
from domain.text import split
from handlers import room_render
from handlers.chatroom import Button, Say
from handlers.max.updates import NAME
from handlers.pacer import Pacer
from handlers.telegram_channel import said
from locales import report_text

log = logging.getLogger(__name__)
TEXT_LIMIT = 4000  # MAX refuses a longer text
MAX_BACKOFF = 30
UPLOAD_TRIES = 3
UNREACHABLE_CODES = ("chat.denied", "chat.not.found", "not.found", "access.denied", "user.blocked")


class Unrenderable(Exception):
    """A row this channel cannot turn into a message (its conversation or customer is gone)."""


class NoDialog(Exception):
    """A person the desk has no MAX address for: MAX would refuse a message to them."""


Buttons = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Rendered:
    text: str
    buttons: Buttons = ()
    reply_to: str | None = None  # the `mid` to reply to
    photo: bytes | None = None  # a report's chart (PNG), uploaded to MAX and sent with the text as its caption


def keyboard(rows: Buttons):
    """A MAX inline keyboard attachment (`maxapi`'s) of callback buttons."""
    builder = InlineKeyboardBuilder()
    for line in rows:
        builder.row(*(CallbackButton(text=button.label, payload=button.data) for button in line))
    return builder.as_markup()


async def send_message(bot: Bot, where: str, to: int, text: str, buttons: Buttons = (),
                       reply_to: str | None = None, photo: bytes | None = None) -> str | None:
    """One message through MAX's Bot API; its `mid`. A photo is uploaded first (`maxapi` asks MAX for an
    upload address, sends the file there and attaches the token it gets; MAX's "not ready yet" is waited out)."""
    attachments = ([InputMediaBuffer(photo, "report.png", UploadType.IMAGE)] if photo else []) + \
        ([keyboard(buttons)] if buttons else [])
    sent = await SendMessage(bot, text=text, attachments=attachments or None,
                             link=NewMessageLink(type="reply", mid=reply_to) if reply_to else None,
                             sleep_after_input_media=False, **{where: to}).fetch()
    message = getattr(sent, "message", None)
    return message.body.mid if message is not None and message.body is not None else None


async def answer_in_chat(bot: Bot, chat: str, says: list[Say]) -> None:
    """The chat-room layer's answers to an update, written in the chat now (in its language already)."""
    for say in says:
        for index, part in enumerate(split(say.text, TEXT_LIMIT)):
            await send_message(bot, "chat_id", int(chat), part, say.buttons if index == 0 else (),
                               say.reply_to if index == 0 else None)


class MaxChannel:
    name = NAME

    def __init__(self, bot: Bot, clock: Clock, settings, pacer: Pacer | None = None) -> None:
        self.bot, self.clock, self.settings = bot, clock, settings
        self.pacer = pacer or Pacer(per_second=30, private_gap=1.0, group_gap=1.0)
        self.sla = Sla(settings.policy)

    # Where a row goes: ("chat_id", a chat) or ("user_id", a person's MAX user id).
    @staticmethod
    async def conversation(row: Outbox) -> Conversation | None:
        return await room_render.conversation_of_row(row)

    async def address(self, row: Outbox) -> tuple[str, int]:
        if row.person_id is None:
            conversation = await self.conversation(row)
            if conversation is None:  # a MAX chat is always a customer's conversation: no staff chat here
                raise Unrenderable("the conversation is gone")
            return "chat_id", int(conversation.ref)
        ref = await identities.address_of(row.person_id, NAME)
        if ref is None:
            raise NoDialog(f"person {row.person_id} has no MAX address")
        return "user_id", int(ref)

    # Pacing.
    async def reserve(self, row: Outbox) -> float:
        try:
            _, to = await self.address(row)
        except (Unrenderable, NoDialog):
            to = 0  # refused without a call when sent
        return self.pacer.reserve(to, lane=outbox.lane(row))

    async def until(self, slot: float) -> None:
        await self.pacer.until(slot)

    def busy(self) -> set[str]:
        return self.pacer.busy_lanes()

    # Rendering: the chat-room layer's words (`handlers.room_render`), and a report's chart as a picture.
    async def render(self, row: Outbox) -> Rendered:
        now = self.clock.now()
        params = row.params or {}
        if row.kind == "report" and params.get("chart"):
            reader = await room_render.reader_lang(row, self.settings.default_lang)
            text, photo = await self._chart(row, reader, now)
            if "rerouted" in params:
                text = f"{said(reader, params['rerouted'])}\n\n{text}"
            return Rendered(text, photo=None if params.get("no_photo") else photo)
        notice = await room_render.render(row, self.settings, self.sla, now)
        if notice is None:
            raise Unrenderable(f"nothing to show of a {row.kind} notice")
        buttons = () if params.get("buttons") is False else notice.buttons
        return Rendered(notice.text, buttons, str(notice.reply_to) if notice.reply_to is not None else None)

    async def _chart(self, row: Outbox, reader: str, now: datetime) -> tuple[str, bytes]:
        """A report's chart: the picture and the report's title under it (the figures as every channel reads
        them, `reports.build_owed`)."""
        owed = await reports.build_owed(row.params, now, self.sla, self.settings.timezone)
        if owed is None:
            raise Unrenderable(f"customer {row.params['customer']} is gone")
        customer, built = owed
        name = f"{customer.name} ({customer.code})"
        return report_text.title(built, reader, name), report_chart.render(built, report_text.chart_labels(
            built, reader, name))

    # Sending.
    async def send(self, row: Outbox) -> Delivered:
        rendered = await self.render(row)
        where, to = await self.address(row)
        text, reply = rendered.text, rendered.reply_to
        if row.rest is not None:  # parts went out before: only the rest is owed
            text, reply = row.rest, None
        parts = split(text, TEXT_LIMIT)
        for index, part in enumerate(parts[:-1]):
            mid = await self._one(where, to, part, (), reply)
            await outbox.part_sent(row, mid or "", "\n".join(parts[index + 1:]))
            await self._thread(row, mid, part)
            reply = None
            await self.pacer.until(self.pacer.reserve(to))
        photo = rendered.photo if row.rest is None and len(parts) == 1 else None  # a chart's caption is short
        mid = await self._one(where, to, parts[-1], rendered.buttons, reply, photo)
        return Delivered(mid, parts[-1])

    async def _one(self, where: str, to: int, text: str, buttons: Buttons, reply_to: str | None,
                   photo: bytes | None = None) -> str | None:
        return await send_message(self.bot, where, to, text, buttons, reply_to, photo)

    async def record(self, row: Outbox, delivered: Delivered) -> None:
        if delivered.ref is not None:
            await self._thread(row, str(delivered.ref), delivered.text)

    async def _thread(self, row: Outbox, mid: str | None, text: str) -> None:
        """The desk's message in the incident's chat: a customer's reply to it threads into the incident."""
        if mid is None or row.person_id is not None:
            return
        conversation = await self.conversation(row)
        if conversation is not None:
            await room_render.remember_sent(row, conversation, mid, text, self.clock.now())

    # Refusals.
    async def classify(self, row: Outbox, error: BaseException) -> Verdict | None:
        if isinstance(error, Unrenderable | room_render.Unrenderable):
            return Failed(str(error))
        if isinstance(error, NoDialog):
            return Unreachable(str(error))
        if isinstance(error, MaxUploadFileFailed):  # the picture, not the chat: after a few tries, the words alone
            if row.attempts >= UPLOAD_TRIES:
                return Retry(f"upload: {error}", 0, {"params": {**row.params, "no_photo": True}})
            return Retry(f"upload: {error}", self._backoff(row))
        if isinstance(error, MaxApiError):
            raw = error.raw if isinstance(error.raw, dict) else {"message": str(error.raw)}
            code = str(raw.get("code", ""))
            reason = f"MAX {error.code} {code}: {raw.get('message', '')}"
            if error.code == 429:
                wait = 1.0
                try:
                    _, to = await self.address(row)
                    self.pacer.pause(to, wait)
                except (Unrenderable, NoDialog):
                    pass
                return Retry(reason, wait)
            if error.code >= 500:
                return Retry(reason, self._backoff(row))
            if error.code == 403 or (error.code == 404 and (row.person_id is not None or code in UNREACHABLE_CODES)):
                return Unreachable(reason)
            if code in UNREACHABLE_CODES:
                return Unreachable(reason)
            return Failed(reason)
        if isinstance(error, InvalidToken | MaxConnection | aiohttp.ClientError | OSError | TimeoutError):
            return Retry(f"{type(error).__name__}: {error}", self._backoff(row))
        return None

    @staticmethod
    def _backoff(row: Outbox) -> float:
        return min(2 ** max(row.attempts - 1, 0), MAX_BACKOFF)
