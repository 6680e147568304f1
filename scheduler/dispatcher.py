"""The outbox dispatcher: sends owed notifications, paced within Telegram's limits, and never loses one.

* network errors and 5xx: retried with exponential backoff (1 s, 2 s, 4 s … at most 30 s: a ping must go
  out soon after Telegram is back, and a premium reaction target is only 15 minutes);
* 429: waits out `retry_after`, for that chat and for everyone (the limit is global);
* 403 Forbidden or "chat not found" for a person: they cannot receive DMs; `/staff` shows it, and a
  ping goes to the staff chat and the leads instead;
* the same for a customer chat: it is marked unreachable (the leads are told once), its notices go to
  the staff chat and the leads, and later ones fail fast without a call until the bot is back;
* a group that became a supergroup (400 with `migrate_to_chat_id`): the chat's binding, incidents and
  notices follow the new id, and the notice is sent there at once;
* a text over Telegram's limits goes in parts (see `_send`); any other refusal fails the row, logged;
* a reminder whose incident has been answered in the meantime is dropped, not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta

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

import telemetry
from domain import alerts, customers, intake, lang, outbox, people
from domain.channels import TELEGRAM, conversation_of
from domain.clock import Clock
from domain.models import Conversation, Outbox, Person
from domain.text import CAPTION_LIMIT, TEXT_LIMIT, split, units
from locales import t

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


def chat_notice(settings, reachable: bool, now: datetime) -> customers.Tell:
    """The leads' notice that the bot lost (or got back) a customer chat, each in their language. Owed by
    the outbox on a refused send and by the `my_chat_member` handler (the composition root passes it)."""
    async def tell(chat: Conversation) -> None:
        key = "edges_outbox.chat_back" if reachable else "edges_outbox.chat_lost"
        for lead_id in await alerts.leads(settings.lead_ids):
            person = await Person.get_or_none(id=lead_id)
            lang = (person.lang if person else None) or settings.default_lang
            await outbox.enqueue(lead_id, t(lang, key, code=chat.customer.code, name=chat.customer.name,
                                            title=chat.title or chat.ref), now, kind="notice")
    return tell


class Pacer:
    """Telegram's published limits: about 30 messages a second overall, 1 a second per chat,
    20 a minute per group. Measured on the monotonic clock: pacing is not SLA time."""

    def __init__(self, per_second: float = 30, private_gap: float = 1.0, group_gap: float = 3.0,
                 monotonic=time.monotonic) -> None:
        self.monotonic = monotonic
        self.global_gap = 1 / per_second
        self.private_gap, self.group_gap = private_gap, group_gap
        self.next_global = 0.0
        self.hold = 0.0  # after a 429, nothing leaves before this
        self.next_chat: dict[int, float] = {}

    def busy(self) -> set[int]:
        now = self.monotonic()
        return {chat for chat, at in self.next_chat.items() if at > now}

    def reserve(self, chat_id: int) -> float:
        """The next moment a message to this chat may leave, taken now: reservations made one after
        another keep the limits even when the messages are then sent side by side."""
        slot = max(self.monotonic(), self.next_global, self.next_chat.get(chat_id, 0.0))
        self.next_global = slot + self.global_gap
        self.next_chat[chat_id] = slot + (self.private_gap if chat_id > 0 else self.group_gap)
        if len(self.next_chat) > 10000:  # forget chats whose pause is over
            now = self.monotonic()
            self.next_chat = {c: at for c, at in self.next_chat.items() if at > now}
        return slot

    async def until(self, slot: float) -> None:
        """Sleep until the slot, or until a 429's pause is over if one came meanwhile: the messages of a
        round reserved their slots before Telegram asked everyone to wait."""
        delay = max(slot, self.hold) - self.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def pause(self, chat_id: int, seconds: float) -> None:
        until = self.monotonic() + seconds
        self.next_chat[chat_id] = max(self.next_chat.get(chat_id, 0.0), until)
        self.next_global = max(self.next_global, until)
        self.hold = max(self.hold, until)


class Dispatcher:
    def __init__(self, bot: Bot, clock: Clock, settings, pacer: Pacer | None = None) -> None:
        self.bot, self.clock, self.settings = bot, clock, settings
        self.pacer = pacer or Pacer()
        self.wake = asyncio.Event()
        self.sent = 0

    async def run(self, stopping: asyncio.Event, idle: float = 0.5, sole_instance: bool = False) -> None:
        await outbox.release_stuck(self.clock.now(), sole_instance)
        rounds = 0
        while not stopping.is_set():
            rounds += 1
            if rounds % 240 == 0:  # now and then, rows of an instance that died meanwhile
                await outbox.release_stuck(self.clock.now())
            try:
                done = await self.drain_once()
            except Exception:
                log.exception("outbox dispatcher round failed")
                done = 0
            if not done:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), idle)

    async def drain_once(self, limit: int = 20) -> int:
        """Send one round: at most one message per chat (so a chat's messages keep their order), each in
        the slot reserved for it in the round's order (pings first), side by side — a slow answer from
        Telegram or a wait for the database does not hold up the next slot."""
        rows = await outbox.claim(self.clock.now(), limit, self.pacer.busy())
        slots = [self.pacer.reserve(row.chat_id) for row in rows]
        results = await asyncio.gather(*(self.deliver(row, slot) for row, slot in zip(rows, slots, strict=True)),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the others finished; the failed row is `sending` until released
        return len(rows)

    async def deliver(self, row: Outbox, slot: float) -> None:
        reason = await outbox.pointless(row)
        if reason:
            await outbox.mark_dropped(row, reason)
            return
        lost_since = await customers.unreachable_since(TELEGRAM, str(row.chat_id)) if row.chat_id < 0 else None
        if lost_since is not None and self.clock.now() - lost_since < customers.RETRY_UNREACHABLE:
            await self._undeliverable(row, "the bot is not in this chat")  # fail fast: no call to Telegram
            return
        await self.pacer.until(slot)
        started = time.monotonic()
        try:
            message = await self._send(row)
        except TelegramRetryAfter as exc:
            self.pacer.pause(row.chat_id, exc.retry_after)
            await outbox.retry_later(row, self.clock.now() + timedelta(seconds=exc.retry_after), "429")
            log.warning("outbox %s: 429, retry after %ss", row.id, exc.retry_after)
        except TelegramMigrateToChat as exc:
            await self._moved(row, exc.migrate_to_chat_id)
        except TelegramForbiddenError as exc:
            await self._undeliverable(row, str(exc))
        except TelegramNotFound as exc:
            if row.chat_id > 0:
                await self._undeliverable(row, str(exc))
            else:  # a 404 names no group: it must not mark a customer chat as lost
                await outbox.mark_failed(row, str(exc))
                log.error("outbox %s to chat %s: %s", row.id, row.chat_id, exc)
        except TelegramBadRequest as exc:
            reason = str(exc).lower()
            if row.photo and any(sign in reason for sign in MEDIA_FORBIDDEN):
                # The group forbids media (a common anti-spam setting), not the bot: the text goes alone.
                await outbox.retry_later(row, self.clock.now(), str(exc), photo=None)
                self.wake.set()
            elif any(sign in reason for sign in UNREACHABLE):
                await self._undeliverable(row, str(exc))
            elif row.thread_id is not None and any(sign in reason for sign in TOPIC_GONE):
                # The topic was deleted or closed: the notice goes to the chat's General topic, not nowhere.
                await outbox.retry_later(row, self.clock.now(), str(exc), thread_id=None)
                self.wake.set()
            else:
                await outbox.mark_failed(row, str(exc))
                log.error("outbox %s to chat %s rejected: %s", row.id, row.chat_id, exc)
        except TelegramEntityTooLarge as exc:  # a 413 is no network trouble: sending it again cannot help
            await outbox.mark_failed(row, str(exc))
            log.error("outbox %s to chat %s too large: %s", row.id, row.chat_id, exc)
        except (TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError, OSError, TimeoutError) as exc:
            # A revoked token (401) is retried too: the rows wait for the restart with a new one.
            delay = min(2 ** max(row.attempts - 1, 0), MAX_BACKOFF)
            await outbox.retry_later(row, self.clock.now() + timedelta(seconds=delay), str(exc))
            log.warning("outbox %s: %s; retry in %ss", row.id, type(exc).__name__, delay)
        except TelegramAPIError as exc:  # any other answer Telegram gives is final for this row
            await outbox.mark_failed(row, str(exc))
            log.error("outbox %s to chat %s rejected: %s", row.id, row.chat_id, exc)
        else:
            async with in_transaction():  # one commit: under an intake burst every round trip waits its turn
                await outbox.mark_sent(row, message.message_id, self.clock.now())
                await self._threads(row, message.message_id, row.text)
            if lost_since is not None:  # a retry after RETRY_UNREACHABLE went through: the mute is over
                now = self.clock.now()
                await customers.set_reachable(TELEGRAM, str(row.chat_id), True, now,
                                              chat_notice(self.settings, True, now))
            self.sent += 1
            telemetry.SENT.labels(row.kind).inc()
            log.info("sent %s #%s to chat %s (incident %s) in %.0f ms", row.kind, row.id, row.chat_id,
                     row.incident_id, (time.monotonic() - started) * 1000)

    async def _send(self, row: Outbox) -> Message:
        """Send the row, in parts when it is over Telegram's limits (a photo whose caption is too long goes
        alone, its text after it): the first part replies, the last carries the buttons, every part goes to
        the row's topic and is recorded, so a reply to any part threads. Each part but the last is written
        off the row as it goes, so a retry sends only the rest."""
        markup = InlineKeyboardMarkup.model_validate(row.markup) if row.markup else None
        if row.kind == outbox.EDIT:  # a message sent earlier, rewritten in place (`reply_to` names it)
            edited = await self.bot.edit_message_text(text=row.text, chat_id=row.chat_id, message_id=row.reply_to,
                                                      reply_markup=markup)
            return edited if isinstance(edited, Message) else Message.model_construct(message_id=row.reply_to)
        if row.photo and units(row.text) <= CAPTION_LIMIT:
            return await self._one(row, row.text, markup)
        if row.photo:
            sent = await self._one(row, "", None)
            await self._part_done(row, sent.message_id, "", row.text)
        parts = split(row.text, TEXT_LIMIT)
        for index, part in enumerate(parts[:-1]):
            sent = await self._one(row, part, None)
            await self._part_done(row, sent.message_id, part, "\n".join(parts[index + 1:]))
            await self.pacer.until(self.pacer.reserve(row.chat_id))  # each part keeps the chat's pace
        return await self._one(row, parts[-1], markup)

    async def _one(self, row: Outbox, text: str, markup: InlineKeyboardMarkup | None) -> Message:
        reply = (ReplyParameters(message_id=row.reply_to, allow_sending_without_reply=True)
                 if row.reply_to else None)
        if row.photo:
            return await self.bot.send_photo(row.chat_id, BufferedInputFile(bytes(row.photo), "report.png"),
                                             caption=text or None, reply_markup=markup, reply_parameters=reply,
                                             message_thread_id=row.thread_id)
        return await self.bot.send_message(row.chat_id, text, reply_markup=markup, reply_parameters=reply,
                                           message_thread_id=row.thread_id)

    async def _part_done(self, row: Outbox, message_id: int, text: str, rest: str) -> None:
        async with in_transaction():
            await outbox.part_sent(row, message_id, rest)
            if text:
                await self._threads(row, message_id, text)

    async def _threads(self, row: Outbox, message_id: int, text: str) -> None:
        if row.kind == outbox.EDIT:
            return  # the message was recorded when it was first sent
        if (row.incident_id is not None and row.chat_id <= 0) or row.kind == "ack":
            # A message in the incident's chat: a customer's reply to it threads into the incident.
            await intake.record_bot_message(row.incident_id, TELEGRAM, str(row.chat_id), str(message_id), text,
                                            self.clock.now())

    async def _moved(self, row: Outbox, new_chat_id: int) -> None:
        """The group became a supergroup: the binding, its incidents and its notices (this one too) follow
        the new id, and this notice goes out there at once."""
        await customers.move_conversation(TELEGRAM, str(row.chat_id), str(new_chat_id))
        await outbox.retry_later(row, self.clock.now(), f"chat moved to {new_chat_id}", chat_id=new_chat_id,
                                 reply_to=None)
        if row.chat_id == self.settings.staff_chat_id:
            log.error("the staff chat %s became the supergroup %s: set STAFF_CHAT_ID=%s", row.chat_id,
                      new_chat_id, new_chat_id)
        log.warning("outbox %s: chat %s moved to %s; sending there", row.id, row.chat_id, new_chat_id)
        self.wake.set()

    async def _undeliverable(self, row: Outbox, reason: str) -> None:
        await outbox.mark_failed(row, reason)
        if row.chat_id < 0:
            await self._chat_lost(row, reason)
            return
        await people.mark_dm(row.chat_id, False, self.clock.now())
        log.warning("outbox %s: user %s cannot receive DMs (%s)", row.id, row.chat_id, reason)
        if row.fallback:
            targets = await self._fallback_targets()
            notes = await self._notes(targets, "outbox.rerouted", name=await people.display_name(row.chat_id))
            await outbox.reroute(row, targets, notes, self.clock.now())
        self.wake.set()

    async def _chat_lost(self, row: Outbox, reason: str) -> None:
        """A customer chat the bot cannot write to any more is marked so (the leads are told once), and its
        notices go to the staff chat and the leads instead, without the chat's buttons; reports are left
        out, the leads get their own copy. Any other group (the staff chat) can only be logged."""
        now = self.clock.now()
        chat = await conversation_of(TELEGRAM, str(row.chat_id))
        if chat is None:
            log.error("outbox %s: group %s cannot be reached: %s", row.id, row.chat_id, reason)
            return
        if await customers.set_reachable(TELEGRAM, str(row.chat_id), False, now,
                                         chat_notice(self.settings, False, now)):
            log.warning("outbox %s: the bot cannot write to %s's chat %s (%s)", row.id, chat.customer.code,
                        row.chat_id, reason)
        if row.kind != "report":
            targets = await self._fallback_targets()
            notes = await self._notes(targets, "edges_outbox.rerouted_chat", code=chat.customer.code,
                                      title=chat.title or chat.ref)
            await outbox.reroute(row, targets, notes, now, keep_buttons=False)
        self.wake.set()

    async def _notes(self, targets: list[int], key: str, **params) -> dict[int, str]:
        """The rerouting note in each reader's language (`domain.lang`)."""
        return {target: t(await lang.of_recipient(TELEGRAM, target, self.settings.default_lang), key, **params)
                for target in targets}

    async def _fallback_targets(self) -> list[int]:
        targets = await alerts.leads(self.settings.lead_ids)
        if self.settings.staff_chat_id:
            targets.insert(0, self.settings.staff_chat_id)
        return targets
