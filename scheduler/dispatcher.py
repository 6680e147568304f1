"""The outbox dispatcher: sends owed notifications, paced within Telegram's limits, and never loses one.

* network errors and 5xx: retried with exponential backoff (1 s, 2 s, 4 s … at most 30 s: a ping must go
  out soon after Telegram is back, and a premium reaction target is only 15 minutes);
* 429: waits out `retry_after`, for that chat and for everyone (the limit is global);
* 403 Forbidden or "chat not found" for a person: they cannot receive DMs; `/staff` shows it, and a
  ping goes to the staff chat and the leads instead;
* a reminder whose incident has been answered in the meantime is dropped, not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, ReplyParameters
from tortoise.transactions import in_transaction

import telemetry
from domain import intake, lang, outbox, people
from domain.clock import Clock
from domain.models import Outbox, Staff
from locales import t

log = logging.getLogger(__name__)
MAX_BACKOFF = 30


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
        if await outbox.pointless(row):
            await outbox.mark_dropped(row, "answered before it was sent")
            return
        await self.pacer.until(slot)
        started = time.monotonic()
        try:
            if row.photo:
                message = await self.bot.send_photo(row.chat_id, BufferedInputFile(bytes(row.photo), "report.png"),
                                                    caption=row.text[:1024])
            else:
                message = await self.bot.send_message(
                    row.chat_id, row.text,
                    reply_markup=InlineKeyboardMarkup.model_validate(row.markup) if row.markup else None,
                    reply_parameters=ReplyParameters(message_id=row.reply_to, allow_sending_without_reply=True)
                    if row.reply_to else None,
                )
        except TelegramRetryAfter as exc:
            self.pacer.pause(row.chat_id, exc.retry_after)
            await outbox.retry_later(row, self.clock.now() + timedelta(seconds=exc.retry_after), "429")
            log.warning("outbox %s: 429, retry after %ss", row.id, exc.retry_after)
        except (TelegramForbiddenError, TelegramNotFound) as exc:
            await self._undeliverable(row, str(exc))
        except TelegramBadRequest as exc:
            if "chat not found" in str(exc).lower() or "bot can't initiate" in str(exc).lower():
                await self._undeliverable(row, str(exc))
            else:
                await outbox.mark_failed(row, str(exc))
                log.error("outbox %s to chat %s rejected: %s", row.id, row.chat_id, exc)
        except (TelegramNetworkError, TelegramServerError, OSError, TimeoutError) as exc:
            delay = min(2 ** max(row.attempts - 1, 0), MAX_BACKOFF)
            await outbox.retry_later(row, self.clock.now() + timedelta(seconds=delay), str(exc))
            log.warning("outbox %s: %s; retry in %ss", row.id, type(exc).__name__, delay)
        else:
            async with in_transaction():  # one commit: under an intake burst every round trip waits its turn
                await outbox.mark_sent(row, message.message_id, self.clock.now())
                if (row.incident_id is not None and row.chat_id <= 0) or row.kind == "ack":
                    # A message in the incident's chat: a customer's reply to it threads into the incident.
                    await intake.record_bot_message(row.incident_id, row.chat_id, message.message_id, row.text,
                                                    self.clock.now())
            self.sent += 1
            telemetry.SENT.labels(row.kind).inc()
            log.info("sent %s #%s to chat %s (incident %s) in %.0f ms", row.kind, row.id, row.chat_id,
                     row.incident_id, (time.monotonic() - started) * 1000)

    async def _undeliverable(self, row: Outbox, reason: str) -> None:
        await outbox.mark_failed(row, reason)
        if row.chat_id <= 0:
            log.error("outbox %s: group %s cannot be reached: %s", row.id, row.chat_id, reason)
            return
        await people.mark_dm(row.chat_id, False, self.clock.now())
        log.warning("outbox %s: user %s cannot receive DMs (%s)", row.id, row.chat_id, reason)
        if row.fallback:
            leads = set(await Staff.filter(role="lead", active=True).values_list("user_id", flat=True))
            targets = sorted(leads | set(self.settings.lead_ids))
            if self.settings.staff_chat_id:
                targets.insert(0, self.settings.staff_chat_id)
            name = await people.display_name(row.chat_id)
            notes = {target: t(await lang.of_recipient(target, self.settings.default_lang), "outbox.rerouted",
                               name=name) for target in targets}
            await outbox.reroute(row, targets, notes, self.clock.now())
        self.wake.set()
