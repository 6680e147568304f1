"""The one middleware every message and button press goes through.

It records who wrote, resolves the `Actor` (role, language, customer chat), applies the command table
of `domain.access` before any handler runs, and turns a `DeskError` raised by a handler into a clear
answer in the person's language. Handlers therefore neither check roles nor catch errors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
)
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, TelegramObject
from tortoise.exceptions import DBConnectionError, OperationalError, TransactionManagementError

import telemetry
from domain import people, updates
from domain.access import COMMANDS, check, desk_chat
from domain.chatroom import code_in
from domain.errors import DeskError
from domain.identities import TELEGRAM, any_conversation, conversation_of
from domain.lang import of_chat_row
from domain.text import shown
from handlers.chatroom import SHOWN, look_at, told_going_on
from handlers.replies import respond
from locales import t

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def reply_lang(actor: people.Actor, chat_type: str, default: str) -> str:
    """A customer's chat speaks the chat's language (everyone there reads the answer); elsewhere in private
    the person's own (`domain.lang`); an unbound group the default."""
    if actor.chat is not None:
        return of_chat_row(actor.chat, default)
    if chat_type == "private":
        return actor.lang
    return default


def command_of(message: Message, bot_username: str | None) -> str | None:
    """The command name when the message is a command for this bot, else None.

    A caption counts like a text: aiogram's `Command` filter matches captions too, so a command under a
    photo or a document is a command, and it passes the same table as a typed one. The name is casefolded
    as that filter does it (`/ſtaff_invite` is `/staff_invite` to it): the table must see what the
    handlers will run. A forwarded message is no command: whoever forwards it does not issue it."""
    if message.forward_origin is not None:
        return None
    text = message.text or message.caption or ""
    if not text.startswith("/") or len(text) < 2:
        return None
    parsed = Command.extract_command(text)
    if parsed.mention and bot_username and parsed.mention.lower() != bot_username.lower():
        return None  # addressed to another bot: an ordinary message for us
    return parsed.command.casefold()


def refusal_of(exc: BaseException) -> str | None:
    """The kind of a Telegram refusal that no retry can cure (the bot kicked from the group or blocked,
    the message to reply to deleted, a button pressed so long ago that its query expired), else None:
    network errors, 5xx, 429 and the database are transient and worth retrying."""
    if isinstance(exc, TelegramForbiddenError):
        return "forbidden"
    if isinstance(exc, TelegramNotFound):
        return "not_found"
    if isinstance(exc, TelegramMigrateToChat):
        return "migrated"
    if isinstance(exc, TelegramBadRequest):
        return "bad_request"
    if isinstance(exc, TelegramEntityTooLarge):
        return "too_large"
    return None


def database_away(exc: BaseException) -> bool:
    """The database is locked, gone or refusing connections: the update is retried, not answered with
    an error (its message would be lost). A constraint or a missing row is a bug, not a blip."""
    if isinstance(exc, DBConnectionError | TransactionManagementError | ConnectionError | OSError | TimeoutError):
        return True
    if type(exc) is OperationalError:  # not IntegrityError, DoesNotExist and the like
        return True
    # asyncpg's own, when tortoise lets them through: a lost or refused connection, a closed pool.
    return any(c.__module__.startswith("asyncpg") and c.__name__ in _PG_AWAY for c in type(exc).__mro__)


_PG_AWAY = {"PostgresConnectionError", "InterfaceError", "CannotConnectNowError", "TooManyConnectionsError"}


class OnceMiddleware(BaseMiddleware):
    """Outer middleware on updates: handle each update id once, count it, and log one line for it.
    `exclusive` (polling) means no other instance takes updates: see `domain.updates`.

    A permanent Telegram refusal ends the update's handling: it is logged, counted, and recorded as
    handled, so it is not retried (in webhook mode Telegram gets a 200 and does not redeliver it).
    Handlers find the update id in `desk.update_id`: the dedupe keys of what they owe derive from
    it, so a retry of the same update owes nothing twice."""

    def __init__(self, clock: Any, exclusive: bool = False) -> None:
        self.clock = clock
        self.exclusive = exclusive

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        update_id = getattr(event, "update_id", None)
        if update_id is None:
            return await handler(event, data)
        if not await self._claim(update_id):
            if not self.exclusive and not await updates.handled(update_id):
                log.info("update %s: in hand on another instance; Telegram is to deliver it again", update_id)
                raise updates.InHandElsewhere(update_id)
            log.info("update %s: handled already; skipped", update_id)
            return None
        started = time.monotonic()
        trace: dict[str, Any] = {}
        data["trace"] = trace
        data["update_id"] = update_id
        result = None
        try:
            result = await handler(event, data)
        except Exception as exc:
            refusal = refusal_of(exc)
            if refusal is None:
                telemetry.HANDLER_ERRORS.inc()
                if not self.exclusive:
                    await updates.release(update_id)  # so that a redelivery is handled
                raise
            telemetry.REFUSALS.labels(refusal).inc()
            log.warning("update %s: Telegram refused (%s: %s); not retried", update_id, refusal, exc)
        if self.exclusive:
            await updates.record(update_id, self.clock.now())
        else:
            await updates.finish(update_id, self.clock.now())
        telemetry.UPDATES.inc()
        log.info("update %s (%s)%s handled in %.0f ms", update_id, event.event_type,
                 f" incident {trace['incident']}" if "incident" in trace else "", (time.monotonic() - started) * 1000)
        return result

    async def _claim(self, update_id: int) -> bool:
        if self.exclusive:
            return not await updates.handled(update_id)
        return await updates.claim(update_id, self.clock.now())


class DeskMiddleware(BaseMiddleware):
    def __init__(self, settings: Any, clock: Any) -> None:
        self.settings = settings
        self.clock = clock

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        message = event if isinstance(event, Message) else getattr(event, "message", None)
        chat = getattr(message, "chat", None)
        if chat is None:
            return None
        if isinstance(event, Message) and event.is_automatic_forward:
            return None  # a linked channel's post copied into its discussion group: nobody asked for help
        sender_chat = event.sender_chat if isinstance(event, Message) else None
        if sender_chat is not None:
            # An anonymous group admin (sender_chat = the group) or someone posting as a channel: whoever
            # is behind it, the chat is the author — a customer in a bound chat, never staff.
            actor = await people.resolve_chat_sender(sender_chat.id, await conversation_of(TELEGRAM, str(chat.id)),
                                                     self.settings.default_lang)
        else:
            user = getattr(event, "from_user", None)
            if user is None or user.is_bot:
                return None  # service messages from bots: nothing to do
            person = await people.seen(user.id, user.username, shown(user.full_name), self.clock.now(),
                                       user.language_code)
            actor = await people.resolve_actor(person.id, await conversation_of(TELEGRAM, str(chat.id)),
                                               self.settings.lead_ids, person, self.settings.default_lang)
        lang = reply_lang(actor, chat.type, self.settings.default_lang)
        staff_chat = chat.id == self.settings.staff_chat_id
        # Where others than staff read the answers (a customer's chat, any other group), incident commands
        # may name only this chat's incidents (the id of its conversation; 0, no incident's, where it has
        # none); None in a private chat and the staff chat.
        only_chat = None
        if not desk_chat(chat.type, actor.chat is not None, staff_chat):
            here = actor.chat or await any_conversation(TELEGRAM, str(chat.id))
            only_chat = here.id if here else 0
        # The handler gets the acting person and the desk as this update sees it (`handlers.desk`).
        desk = data["desk"].for_update(lang, only_chat, data.get("update_id"), data.get("trace"))
        data.update(actor=actor, desk=desk)

        update = data.get("event_update")
        edit = update is not None and update.edited_message is event
        if isinstance(event, Message):
            event = await self._look_at(event, actor, staff_chat, edit, desk, data["bot"])
            if event is None:
                return None
        if edit:
            # An edit only updates the stored text: it never runs a command. In private, where only the
            # person reads it, a command fixed by an edit is told to be sent again rather than met with silence.
            if chat.type == "private" and command_of(event, (await data["bot"].me()).username) is not None:
                await respond(event, t(lang, "err.edit_not_run"))
            return await self._run(handler, event, data, lang)
        if isinstance(event, Message) and (event.text or event.caption) is not None:
            bot: Bot = data["bot"]
            me = await bot.me()
            name = command_of(event, me.username)
            if name is not None:
                if name not in COMMANDS:
                    if actor.chat is not None and not actor.is_staff:
                        return await self._run(handler, event, data, lang)  # "/var/log is full" is a problem report
                    await respond(event, t(lang, "err.unknown_command", command=name))
                    return None
                args = Command.extract_command(event.text or event.caption or "").args
                refusal = check(name, actor.role, chat.type, actor.chat is not None, staff_chat,
                                has_args=bool((args or "").strip()))
                if refusal is not None:
                    log.info("refused /%s for %s (%s) in chat %s", name, actor.user_id, actor.role, chat.id)
                    await respond(event, t(lang, refusal, command=name))
                    return None
        return await self._run(handler, event, data, lang)

    @staticmethod
    async def _look_at(message: Message, actor: people.Actor, staff_chat: bool, edit: bool, desk: Any,
                       bot: Bot) -> Message | None:
        """Telegram's one look at a message (or an edit) for live codes, before any handler or command runs
        (`handlers.chatroom.look_at`): where others read it (a customer's chat, any other group) each is burnt.
        Returned: the message as the handlers get it (codes masked), None when it goes no further (little more
        than a code; a command other than /new, which is not run). Not looked at: the staff chat, a person's own
        private chat with the bot (a `/start CODE` there is a redemption, not a showing), and in a group bound to
        nobody a `/start CODE`, which binds it or is answered where the code belongs, as ever."""
        chat = message.chat
        text = message.text if message.text is not None else message.caption
        if not text or staff_chat or (chat.type == "private" and actor.chat is None):
            return message
        name = command_of(message, (await bot.me()).username)
        if name == "start" and not edit and (chat.type == "private" or actor.chat is None):
            args = Command.extract_command(text).args or ""
            if chat.type == "private" or code_in(args) is not None:
                return message
        seen = await look_at(text, actor.chat, actor.user_id, desk, chat.title or str(chat.id))
        if not seen.found:
            return message
        field = "text" if message.text is not None else "caption"
        masked = message.model_copy(update={field: seen.text, f"{'' if field == 'text' else 'caption_'}entities": None})
        if edit:
            await respond(message, t(desk.lang, SHOWN))
            return masked
        if (seen.only_codes and message.text is not None) or (name in COMMANDS and name != "new"):
            await respond(message, t(desk.lang, SHOWN))
            return None
        await respond(message, t(desk.lang, told_going_on(actor.chat, actor)))
        return masked

    async def _run(self, handler: Handler, event: TelegramObject, data: dict[str, Any], lang: str) -> Any:
        try:
            return await handler(event, data)
        except DeskError as exc:
            await self._tell(event, t(lang, exc.key, **exc.params))
        except TelegramAPIError:
            raise  # the answer itself could not be sent; OnceMiddleware decides: retry or end
        except Exception as exc:
            if database_away(exc):
                raise  # transient: the update is retried (and parked if it lasts)
            # Never silence: the person learns something went wrong, the log has the details.
            telemetry.HANDLER_ERRORS.inc()
            log.exception("handler failed for %s", type(event).__name__)
            await self._tell(event, t(lang, "err.internal"))
        return None

    @staticmethod
    async def _tell(event: TelegramObject, text: str) -> None:
        if isinstance(event, CallbackQuery):
            await event.answer(text[:200], show_alert=True)
        elif isinstance(event, Message):
            await respond(event, text)

