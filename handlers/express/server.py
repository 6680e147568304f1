"""The eXpress bot's endpoints on the bot's own aiohttp server, under `/express/`:

* `POST /express/command`: a message in a chat (or a pressed bubble, or a system event); verified with
  pybotx (the CTS server signs each request with the bot's secret key), taken in, then answered 202: what
  a message started is in the database before the CTS server hears it arrived. A message carries no chat
  name: `system:chat_created` does, else BotX's chat info is asked once per chat, after the message was
  taken in (`_name_later`);
* `GET /express/status`: the bot's menu of commands for a chat;
* `POST /express/notification/callback`: the asynchronous result (`sync_id`) of a message the bot sent,
  which the channel waits for (`handlers.express.channel`); taken only from the bot (so the CTS server) the
  message went through (`Results`).

A request that fails verification is answered 401 and changes nothing; one pybotx cannot read, 400; one
for a bot this desk does not know, 503 (BotX's "bot disabled", so the CTS server stops retrying it).
pybotx checks a token's signature, issuer, audience and times; the desk also requires what pybotx leaves
optional, an expiry, and a bounded lifetime (`_fresh`), so a token once seen cannot be replayed for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import jwt
from aiohttp import web
from pybotx import (
    AddedToChatEvent,
    Bot,
    BotAccountWithSecret,
    BotXMethodCallback,
    BubbleMarkup,
    ChatCreatedEvent,
    EventEdit,
    HandlerCollector,
    IncomingMessage,
    RequestHeadersNotProvidedError,
    UnknownBotAccountError,
    UnverifiedRequestError,
    build_bot_disabled_response,
    build_command_accepted_response,
    build_unverified_request_response,
)
from pybotx.bot.api.exceptions import UnknownSystemEventError
from pybotx.bot.callbacks.callback_memory_repo import CallbackMemoryRepo
from pybotx.missing import Undefined
from pybotx.models.attachments import BotAPIAttachment
from pybotx.models.enums import BotAPIClientPlatforms, ChatTypes
from pydantic import TypeAdapter, ValidationError

from bot.express_settings import ExpressSettings
from domain import chatroom
from domain.text import split
from handlers.chatroom import Button, ChatRoom, RoomMessage, RoomPress, Say, owe_answers
from locales import t

log = logging.getLogger(__name__)


def _pybotx_logs_through_ours() -> None:
    """pybotx logs every request and answer (customers' words, at DEBUG) through loguru straight to stderr:
    only its warnings and errors are kept, through this program's logging (which hides the secrets)."""
    from loguru import logger as loguru

    loguru.remove()
    std = logging.getLogger("pybotx")
    loguru.add(lambda message: std.log(message.record["level"].no, "%s", message.record["message"]),
               level="WARNING", format="{message}")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request to BotX otherwise


# How far a CTS server's clock may run ahead of the desk's machine (or behind it): an on-premises server is
# often a few seconds off, and pybotx's own leeway (one second) refused every message of such a server.
CLOCK_SKEW = 60


class _JwtWithSkew:
    """PyJWT as pybotx's verification uses it, with `CLOCK_SKEW` as the leeway on `iat`, `nbf` and `exp`
    (pybotx takes no leeway of ours); everything else, the signature first, is PyJWT's and pybotx's."""

    def __getattr__(self, name: str):
        return getattr(jwt, name)

    @staticmethod
    def decode(*args, **kwargs):
        kwargs["leeway"] = max(kwargs.get("leeway", 0), CLOCK_SKEW)
        return jwt.decode(*args, **kwargs)


def _pybotx_allows_clock_skew() -> None:
    import pybotx.bot.bot as pybotx_bot

    pybotx_bot.jwt = _JwtWithSkew()  # only pybotx's module: this program's own `jwt` is untouched


_pybotx_logs_through_ours()
_pybotx_allows_clock_skew()
NAME = "express"
BODY_LIMIT = 4096  # BotX's longest message body
PREFIX = "/express"
ANSWER_WAIT = 30.0  # seconds an answer waits for BotX's result before it is logged as unconfirmed
MAX_BODY = 64 * 1024 * 1024  # a message with an inline file (the desk keeps its name and size only)
BUTTON_FIELD = "dd"  # the bubble data field holding the chat-room layer's button data
# A CTS server's token may live this long from its issue (real ones: two hours, Joken's default on BotX's
# Elixir side; pybotx's own: one minute): longer is no expiry in practice, and is refused.
MAX_TOKEN_LIFETIME = 24 * 3600
# How long a result for a sync_id no send has named yet waits for that send (BotX may call back before its
# answer to the send arrived); pybotx keeps such an early result this long too.
EARLY_RESULT_WAIT = 5.0
NAMES_KEPT = 1000  # chat names from `system:chat_created` kept for the chat's first message
_ATTACHMENT = TypeAdapter(BotAPIAttachment)  # an attachment as pybotx reads it (else it passes it over)
_PLATFORMS = frozenset(platform.value for platform in BotAPIClientPlatforms)
# A mention as it stands in a message's body: a person (`@`, `@@` a contact) or a chat (`##`), by the id of
# the mention entity that names it.
_MENTION = re.compile(r"(@@|@|##)\{mention:([0-9A-Fa-f-]{36})\}")
EVENTS_NOTED = 100  # unknown system events logged once each in a run (bounded: a CTS server may invent many)
_sending_bot: contextvars.ContextVar[UUID | None] = contextvars.ContextVar("express_sending_bot", default=None)
_result_signer: contextvars.ContextVar[str | None] = contextvars.ContextVar("express_result_signer", default=None)


class UnknownResult(Exception):
    """A result for a sync_id no send of this process waits for (too late, or another instance's)."""


class Results(CallbackMemoryRepo):
    """pybotx's waiting for BotX's results, remembering which bot each awaited send went through: any
    configured CTS server signs validly, but only the one the message went through may say how it went
    (a forged "delivered" would hide a lost chat, a forged "chat not found" would cut a customer off)."""

    def __init__(self, early_wait: float = EARLY_RESULT_WAIT) -> None:
        super().__init__()
        self.early_wait = early_wait
        self.sent_by: dict[UUID, UUID | None] = {}  # sync_id -> the bot, while its send waits
        self._named = asyncio.Condition()

    async def create_botx_method_callback(self, sync_id: UUID) -> None:
        await super().create_botx_method_callback(sync_id)
        async with self._named:  # in the sending task: `ExpressBot.send` named its bot
            self.sent_by[sync_id] = _sending_bot.get()
            self._named.notify_all()

    async def wait_botx_method_callback(self, sync_id: UUID, timeout: float) -> BotXMethodCallback:
        try:
            return await super().wait_botx_method_callback(sync_id, timeout)
        finally:
            self.sent_by.pop(sync_id, None)

    async def set_botx_method_callback_result(self, callback: BotXMethodCallback) -> None:
        async with self._named:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._named.wait_for(lambda: callback.sync_id in self.sent_by),
                                       self.early_wait)
            if callback.sync_id not in self.sent_by:
                raise UnknownResult(str(callback.sync_id))
            bot = self.sent_by[callback.sync_id]
        signer = _result_signer.get()  # the endpoint's, verified by pybotx before this is called
        if bot is None or signer is None or signer.lower() != str(bot).lower():
            raise UnverifiedRequestError("The result is signed for another bot than the one that sent the message.")
        await super().set_botx_method_callback_result(callback)


# pybotx turns `<embed_mention>TYPE:ID:NAME</embed_mention>` anywhere in a body it sends into a real mention
# (or refuses the whole send for an unknown TYPE). The desk writes no such tag itself, so one in a body is a
# customer's words quoted back (an acknowledgement, a title in /status): a word joiner breaks the tag, the
# text reads the same, and nobody is @-mentioned by the bot.
EMBED_TAG = "<embed_mention>"


def inert(body: str) -> str:
    return body.replace(EMBED_TAG, "<\u2060embed_mention>")


def chat_ref(bot_id: UUID | str, chat_id: UUID | str) -> str:
    """An eXpress chat's address on the desk: the bot (one per CTS server) and the chat it is in, since
    sending there needs both."""
    return f"{bot_id}:{chat_id}"


def split_ref(ref: str) -> tuple[UUID, UUID]:
    bot_id, _, chat_id = ref.partition(":")
    return UUID(bot_id), UUID(chat_id)


def bubbles(buttons: tuple[tuple[Button, ...], ...]) -> BubbleMarkup | None:
    """The chat-room layer's buttons as eXpress bubbles: pressed, they come back silently as a command
    with the button's data (`BUTTON_FIELD`)."""
    if not buttons:
        return None
    markup = BubbleMarkup()
    for row in buttons:
        for index, button in enumerate(row):
            markup.add_button(label=button.label, command="/dd", data={BUTTON_FIELD: button.data}, silent=True,
                              new_row=index == 0)
    return markup


def _attachments(message: IncomingMessage) -> list[dict[str, str]]:
    """What came with the message, as metadata (the desk keeps no files)."""
    found = []
    if message.file is not None:
        kind = getattr(message.file.type, "name", str(message.file.type)).lower()  # pybotx's AttachmentTypes
        found.append({"kind": "photo" if kind == "image" else "document" if kind == "document" else kind,
                      "name": message.file.filename or "", "size": str(message.file.size or 0)})
    for kind in ("location", "contact", "link", "sticker"):
        if getattr(message, kind) is not None:
            found.append({"kind": kind})
    # One of a kind pybotx does not know (a newer client's: a poll, say) it passes over; a message of only
    # that would be lost, so it is kept by its kind, as MAX's reader does (`handlers.max.updates`).
    items = (message.raw_command or {}).get("attachments")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and not _pybotx_reads(item):
            found.append({"kind": str(item.get("type") or "unknown")[:32]})
    return found


def _pybotx_reads(item: dict[str, Any]) -> bool:
    try:
        _ATTACHMENT.validate_python(item)
    except ValidationError:
        return False
    return True


def _mentioned(raw: dict[str, Any] | None) -> dict[str, str]:
    """The name each of the message's mentions stands for, by the mention's id (pybotx's mentions drop it)."""
    names = {}
    for entity in (raw or {}).get("entities") or []:
        data = entity.get("data") if isinstance(entity, dict) and entity.get("type") == "mention" else None
        if not isinstance(data, dict):
            continue
        named = data.get("mention_data") if isinstance(data.get("mention_data"), dict) else {}
        name = "all" if data.get("mention_type") == "all" else named.get("name")
        if isinstance(name, str) and name.strip():
            names[str(data.get("mention_id")).lower()] = name.strip()
    return names


def chat_name_in(raw: dict[str, Any] | None, chat_id: UUID) -> str:
    """The chat's name as a message gives it: a reply to a message of the same chat names that chat as it is
    now (BotX has no rename event, and a message carries no chat name otherwise)."""
    for entity in (raw or {}).get("entities") or []:
        data = entity.get("data") if isinstance(entity, dict) and entity.get("type") == "reply" else None
        if (isinstance(data, dict) and str(data.get("source_group_chat_id")).lower() == str(chat_id).lower()
                and isinstance(data.get("source_chat_name"), str)):
            return data["source_chat_name"]
    return ""


def with_names(body: str, raw: dict[str, Any] | None) -> str:
    """The body as its reader saw it: each mention as the name it stands for (one with no name stays)."""
    if "{mention:" not in body:
        return body
    names = _mentioned(raw)
    return _MENTION.sub(lambda m: f"{m[1][0]}{names[m[2].lower()]}" if m[2].lower() in names else m[0], body)


def _text(message: IncomingMessage) -> str:
    text = with_names(message.body or "", message.raw_command)
    if not text and message.location is not None:
        text = f"📍 {message.location.name or ''} {message.location.address or ''}".strip()
    if not text and message.contact is not None:
        text = f"📇 {message.contact.name or ''}".strip()
    if not text and message.link is not None:
        text = message.link.url or ""
    return text


def readable(raw: dict[str, Any]) -> dict[str, Any]:
    """The request as pybotx reads it: it is strict about the sender's client `platform`, which grows with
    each new eXpress app, and would refuse the whole message for it; the desk does not use it, so a value it
    does not know is left out (as pybotx itself passes over an attachment or entity it does not know)."""
    sender = raw.get("from")
    if isinstance(sender, dict) and sender.get("platform") is not None and sender["platform"] not in _PLATFORMS:
        return {**raw, "from": {**sender, "platform": None}}
    return raw


def room_message(message: IncomingMessage, now: datetime, title: str = "") -> RoomMessage:
    sender = message.sender
    return RoomMessage(
        channel=NAME, chat=chat_ref(message.bot.id, message.chat.id), ref=str(message.sync_id),
        sender=str(sender.huid), sender_name=sender.username or sender.ad_login or "", text=_text(message),
        sent_at=now, chat_title=title, reply_to=str(message.reply.sync_id) if message.reply is not None else None,
        attachments=_attachments(message), private=message.chat.type == ChatTypes.PERSONAL_CHAT)


class ExpressBot:
    """pybotx's `Bot` for every configured CTS server, its handlers, and the endpoints."""

    def __init__(self, settings: ExpressSettings, room: ChatRoom, default_lang: str, clock) -> None:
        self.room, self.clock, self.default_lang = room, clock, default_lang
        collector = HandlerCollector()
        for name in ("new", "status", "help"):
            collector.command(f"/{name}", description=t(default_lang, f"help.{name}"))(self._on_message)
        collector.command("/dd", visible=False)(self._on_message)  # a pressed bubble
        collector.default_message_handler(self._on_message)
        collector.chat_created(self._on_chat_created)
        collector.added_to_chat(self._on_added)
        collector.event_edit(self._on_edit)
        accounts = [BotAccountWithSecret(id=a.bot_id, cts_url=a.cts_url, secret_key=a.secret_key)
                    for a in settings.accounts]
        self.results = Results()
        self.answer_wait = ANSWER_WAIT  # per send, so a test whose result never comes need not wait it out
        self.botx = Bot(collectors=[collector], bot_accounts=accounts, default_callback_timeout=ANSWER_WAIT,
                        callback_repo=self.results)
        self._answers: set[asyncio.Task] = set()  # answers in flight, and chat names being asked
        self._names: dict[str, str] = {}  # chat -> its name from `system:chat_created` (newest NAMES_KEPT)
        self._asked: set[str] = set()  # chats whose name was asked of BotX in this run: once each
        self._events_noted: set[str] = set()  # unknown system events logged in this run
        self._context = contextvars.copy_context()  # built after the database is open (`bot.app.run`)

    async def _on_message(self, message: IncomingMessage, bot: Bot) -> None:
        # pybotx runs handlers in a context of its own, empty (`contextvars.Context()`): the database's
        # context is the one this bot was built in, a fresh copy per message (transactions live in it).
        await asyncio.get_running_loop().create_task(self._handle(message), context=self._context.copy())

    async def _on_chat_created(self, event: ChatCreatedEvent, bot: Bot) -> None:
        await asyncio.get_running_loop().create_task(self._created(event), context=self._context.copy())

    async def _on_added(self, event: AddedToChatEvent, bot: Bot) -> None:
        await asyncio.get_running_loop().create_task(self._added(event), context=self._context.copy())

    async def _added(self, event: AddedToChatEvent) -> None:
        """Someone was added to a chat, the bot itself when it is put back: BotX tells only a bot in the
        chat, so the chat is reachable again (a chat marked so after a refused send)."""
        await self.room.back(NAME, chat_ref(event.bot.id, event.chat.id))
    async def _on_edit(self, event: EventEdit, bot: Bot) -> None:
        await asyncio.get_running_loop().create_task(self._edited(event), context=self._context.copy())

    async def _edited(self, event: EventEdit) -> None:
        """`system:event_edit`: a message edited in a chat; its stored text follows, with a code edited into it
        burnt (`ChatRoom.edited`), as in every other chat."""
        ref = chat_ref(event.bot.id, event.chat_id)
        text = with_names(event.body or "", event.raw_command)
        said = await self.room.edited(RoomMessage(NAME, ref, str(event.sync_id), str(event.huid), "", text, None))
        # Keyed by the edit's text: the same edit sent again owes its answer once, a later edit its own.
        key = f"edit:{event.sync_id}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
        at_once = await owe_answers(NAME, ref, said, key, self.clock.now())
        if len(at_once) < len(said):
            self.room.desk.wake_outbox()
        for say in at_once:
            self._answer(event.bot.id, event.chat_id, say)

    async def _created(self, event: ChatCreatedEvent) -> None:
        """A chat made with the bot in it: its name, for when its first message is taken in."""
        ref = chat_ref(event.bot.id, event.chat.id)
        self._names[ref] = event.chat_name or ""
        while len(self._names) > NAMES_KEPT:
            del self._names[next(iter(self._names))]
        await chatroom.name_chat(NAME, ref, event.chat_name or "")

    def _name_later(self, bot_id: UUID, chat_id: UUID) -> None:
        """The chat's name, asked of BotX beside the request once the message is taken in, for a chat the desk
        keeps without one: once per chat in a run; its failure costs only the name."""
        ref = chat_ref(bot_id, chat_id)
        if ref in self._asked:
            return

        async def ask() -> None:
            if not await chatroom.untitled(NAME, ref) or ref in self._asked:
                return
            self._asked.add(ref)
            try:
                info = await self.botx.chat_info(bot_id=bot_id, chat_id=chat_id)
            except Exception as error:
                log.warning("eXpress: the name of chat %s could not be asked: %s: %s", chat_id,
                            type(error).__name__, error)
                return
            await chatroom.name_chat(NAME, ref, info.name)
        task = asyncio.get_running_loop().create_task(ask(), name="express-chat-name", context=self._context.copy())
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    async def _handle(self, message: IncomingMessage) -> None:
        data = message.data.get(BUTTON_FIELD) if isinstance(message.data, dict) else None
        if message.body.strip() == "/dd" or data is not None:  # a bubble (or something posing as one)
            said = await self.room.press(RoomPress(NAME, chat_ref(message.bot.id, message.chat.id),
                                                   str(message.sender.huid), message.sender.username or "",
                                                   data if isinstance(data, str) else ""))
        else:
            said = await self.room.message(room_message(message, self.clock.now(),
                                                        self._names.get(chat_ref(message.bot.id, message.chat.id), "")))
            renamed = chat_name_in(message.raw_command, message.chat.id)
            if renamed:  # the chat's name now, which may be new: the conversation's title follows
                await chatroom.name_chat(NAME, chat_ref(message.bot.id, message.chat.id), renamed, renamed=True)
        # Owed through the outbox before BotX hears the message arrived (`chatroom.owe_answers`): paced, split,
        # retried; only a chat without a conversation is answered at once.
        at_once = await owe_answers(NAME, chat_ref(message.bot.id, message.chat.id), said, str(message.sync_id),
                                    self.clock.now())
        if len(at_once) < len(said):
            self.room.desk.wake_outbox()
        for say in at_once:
            self._answer(message.bot.id, message.chat.id, say)
        self._name_later(message.bot.id, message.chat.id)

    async def send(self, bot_id: UUID, chat_id: UUID, body: str, markup: BubbleMarkup | None = None) -> UUID | None:
        """A message to a chat through the bot, waiting for BotX's result; the result is taken only from
        this bot (`Results`). Every send goes through here."""
        token = _sending_bot.set(bot_id)
        try:
            return await self.botx.send_message(bot_id=bot_id, chat_id=chat_id, body=inert(body),
                                                bubbles=markup or Undefined, callback_timeout=self.answer_wait)
        finally:
            _sending_bot.reset(token)

    def _answer(self, bot_id: UUID, chat_id: UUID, say: Say) -> None:
        """An answer to the message in hand, sent beside the request: BotX confirms it with a callback to
        this same server, which must not wait behind the request that caused it."""
        async def send() -> None:
            try:
                parts = split(say.text, BODY_LIMIT)
                for index, part in enumerate(parts):  # the buttons under the last part, as the outbox does
                    await self.send(bot_id, chat_id, part, bubbles(say.buttons) if index == len(parts) - 1 else None)
            except Exception as error:  # an answer lost is logged; what the desk owes is in the outbox
                log.warning("eXpress: an answer to chat %s was not delivered: %s", chat_id, error)
        task = asyncio.create_task(send(), name="express-answer")
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    async def wait_answers(self) -> None:
        """Answers still in flight (tests, and a clean stop)."""
        if self._answers:
            await asyncio.wait(set(self._answers), timeout=self.answer_wait)

    # ---- the endpoints ----

    def register(self, app: web.Application) -> None:
        app.router.add_post(f"{PREFIX}/command", self.command)
        app.router.add_get(f"{PREFIX}/status", self.status)
        app.router.add_post(f"{PREFIX}/notification/callback", self.callback)

    async def command(self, request: web.Request) -> web.Response:
        raw = await _json(request)
        if raw is None:
            return _refused("Malformed JSON", 400)

        async def take_in() -> web.Response:
            _signed_for(raw.get("bot_id"), request.headers)
            _fresh(request.headers, self.clock.now())
            try:
                task = self.botx.async_execute_raw_bot_command(readable(raw), verify_request=True,
                                                               request_headers=request.headers, logging_command=False)
            except UnknownSystemEventError as error:  # verified, then not read: a newer eXpress's event
                self._note_event(str(error.type_name))
                return web.json_response(build_command_accepted_response(), status=202)
            try:
                await task  # taken in before it is acknowledged: a failure is a 500, and BotX may send it again
            except Exception:
                log.exception("eXpress: a command could not be handled")
                return _refused("Retry later", 500)
            return web.json_response(build_command_accepted_response(), status=202)
        return await _verified(take_in, "command")

    def _note_event(self, name: str) -> None:
        """A system event this pybotx does not know is passed over (nothing the desk does depends on one),
        logged once per kind in a run: not a crash each time BotX sends it."""
        if name not in self._events_noted and len(self._events_noted) < EVENTS_NOTED:
            self._events_noted.add(name)
            log.info("eXpress: system event %s is not known here, passed over", name[:100])

    async def status(self, request: web.Request) -> web.Response:
        async def menu() -> web.Response:
            _signed_for(request.query.get("bot_id"), request.headers)
            _fresh(request.headers, self.clock.now())
            return web.json_response(await self.botx.raw_get_status(dict(request.query), verify_request=True,
                                                                    request_headers=request.headers))
        return await _verified(menu, "status request")

    async def callback(self, request: web.Request) -> web.Response:
        raw = await _json(request)
        if raw is None:
            return _refused("Malformed JSON", 400)

        async def result() -> web.Response:
            _fresh(request.headers, self.clock.now())
            signer = _result_signer.set(_signer(request.headers))  # checked against the send's bot (`Results`)
            try:
                await self.botx.set_raw_botx_method_result(raw, verify_request=True, request_headers=request.headers)
            except (UnverifiedRequestError, RequestHeadersNotProvidedError, ValueError):
                raise
            except UnknownResult as error:  # nobody here waits for it: answered, nothing changes
                log.info("eXpress: a result for %s, which no send here waits for", error)
            except Exception as error:  # a result nobody waits for any more (it came too late): nothing to do
                log.info("eXpress: a callback was not taken: %s: %s", type(error).__name__, error)
            finally:
                _result_signer.reset(signer)
            return web.json_response(build_command_accepted_response(), status=202)
        return await _verified(result, "callback")

    async def stop_waiting(self) -> None:
        """Sends waiting for BotX's result stop waiting (the endpoint that receives it is closed): they were
        accepted, and count as sent."""
        await self.botx._callbacks_manager.stop_callbacks_waiting()

    async def startup(self) -> None:
        await self.botx.startup(fetch_tokens=False)

    async def shutdown(self) -> None:
        await self.wait_answers()
        with contextlib.suppress(Exception):
            await self.botx.shutdown()


def _claims(headers) -> dict[str, Any] | None:
    """The request's token's claims, unverified (pybotx verifies the token)."""
    token = (headers.get("authorization") or "").split()[-1:] or [""]
    try:
        claims = jwt.decode(token[0], options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    return claims if isinstance(claims, dict) else None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fresh(headers, now: datetime) -> None:
    """A token must expire, and soon: pybotx checks `exp` (and `nbf`, `iat`) against the machine's time only
    when the token has them, so a token without one, or valid for years, would be good for ever once seen (in
    a proxy's log, a captured request). Its lifetime counts from its issue (`iat`, else `nbf`), else from
    `now` (the desk's clock; a day's bound needs no finer skew)."""
    claims = _claims(headers)
    if claims is None:
        return  # unsigned or unreadable: pybotx refuses it with its own reason
    expires, issued = claims.get("exp"), claims.get("iat", claims.get("nbf"))
    if not _number(expires):
        raise UnverifiedRequestError('Token is missing the "exp" claim')
    if issued is not None and not _number(issued):
        raise UnverifiedRequestError("Invalid issue time")
    if expires - (issued if issued is not None else now.timestamp()) > MAX_TOKEN_LIFETIME:
        raise UnverifiedRequestError("The token is valid for too long")


def _signer(headers) -> str | None:
    """The bot whose key a request claims to be signed with (pybotx checks the signature against that key):
    the issuer of a v2 token, the audience of a v1 one."""
    claims = _claims(headers)
    if claims is None:
        return None
    audience = claims.get("aud")
    if claims.get("version") == 2 or isinstance(audience, str):
        return str(claims.get("iss") or "")
    return str(audience[-1]) if isinstance(audience, list) and audience else None


def _signed_for(bot_id: object, headers) -> None:
    """A request must be signed with the key of the bot it names: several CTS servers (one a customer's)
    may be configured, and a request signed by one must not act in another's chats."""
    signer = _signer(headers)
    if signer is None:
        return  # unsigned or unreadable: pybotx refuses it with its own reason
    if bot_id is None or str(bot_id).lower() != signer.lower():
        raise UnverifiedRequestError("The request is signed for another bot.")


async def _verified(handle: Callable[[], Awaitable[web.Response]], what: str) -> web.Response:
    """pybotx's verdict on a request as BotX expects it: 401 unsigned or badly signed, 503 for a bot this
    desk does not know (BotX's "bot disabled"), 400 unreadable."""
    try:
        return await handle()
    except (UnverifiedRequestError, RequestHeadersNotProvidedError) as error:
        log.warning("eXpress: a %s refused: %s", what, error or "no authorization")
        return web.json_response(build_unverified_request_response(status_message=str(error) or "unverified"),
                                 status=401)
    except UnknownBotAccountError as error:
        return web.json_response(build_bot_disabled_response(f"No credentials for bot {error.bot_id}"), status=503)
    except ValueError as error:
        return _refused(str(error) or f"{what} validation error", 400)


async def _json(request: web.Request) -> dict[str, Any] | None:
    # eXpress sends a small file inside the message (base64), far over the 1 MiB the rest of the web app
    # takes: a refused message would be a customer's lost words.
    try:
        raw = await request.clone(client_max_size=MAX_BODY).json()
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return raw if isinstance(raw, dict) else None


def _refused(reason: str, status: int) -> web.Response:
    return web.json_response({"status": "error", "reason": reason}, status=status)
