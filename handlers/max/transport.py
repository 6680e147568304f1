"""How MAX updates reach the desk: long polling (the default) or MAX's webhook (`MODE=webhook`), each update
handled once and none lost.

* Polling asks `GET /updates` from the stored cursor (`domain.updates.cursor`: MAX's `marker`). Each update is
  handled in one transaction with its row in the update ledger (`domain.updates.channel_key`), and the cursor
  moves past a batch only after every update of it committed. A stop or a crash in the middle leaves the cursor
  where it was: after a restart MAX sends the batch again, the ledger skips the updates already handled, and
  the rest are handled now. An update whose handling fails is retried with backoff and holds up the ones
  after it; /healthz names it while it fails. After `attempts.ATTEMPTS` failures (counted in the database;
  the database away or the network does not count) it is set aside: kept as a parked row, the leads told, the
  ledger marking it done, so one poisoned update never stops every chat's intake.
* Webhook: MAX posts each update to `/max/webhook` with the secret given at subscription in
  `X-Max-Bot-Api-Secret`; a request without it is refused (401) and changes nothing. An update is handled
  before the answer: one that fails gets a 500, so MAX delivers it again, until it is set aside (then 200);
  two instances receiving the same one handle it once (the ledger's claim).
* An update the reader cannot read (`maxapi` refuses it, or its values break the reader) is set aside at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from maxapi import Bot
from maxapi.methods.get_updates import GetUpdates
from tortoise.transactions import in_transaction

import telemetry
from domain import attempts, parked, updates
from domain.clock import Clock
from domain.models import ParkedUpdate
from domain.text import storable
from handlers.max.updates import NAME, MaxUpdate, Unreadable, read
from handlers.stopping import sleep_unless, unless_stopped

log = logging.getLogger(__name__)
MAX_BACKOFF = 30.0
MAX_BODY = 1024 * 1024
# The updates the desk reads; the others MAX need not send at all.
TYPES = ["message_created", "message_edited", "message_callback", "bot_added", "bot_removed", "bot_started"]

FollowUp = Callable[[], Awaitable[None]] | None
# Handles one update inside its transaction; may return what to do once it committed (a button's pop-up).
Handle = Callable[[MaxUpdate], Awaitable[FollowUp]]
# An update set aside (kept as a parked row): owes the leads' notice in the transaction that keeps it; may return
# what to do once it committed (a pressed button answered).
OnSetAside = Callable[[ParkedUpdate, MaxUpdate | None], Awaitable[FollowUp]]


def identify(raw: dict) -> tuple[MaxUpdate | None, int, str | None]:
    """The update as the desk reads it, its ledger key, and why it cannot be read (None when it can). One the
    reader chokes on is named by its whole JSON: the same update comes again under the same key."""
    try:
        update = read(raw)
        return update, updates.channel_key(NAME, update.key), None
    except Exception as error:  # Unreadable, or the reader's own failure on a shape it never met
        why = str(error) if isinstance(error, Unreadable) else attempts.describe(error)
        return None, updates.channel_key(NAME, "raw:" + json.dumps(raw, sort_keys=True, default=str)), why


def _chat_id(raw: dict, update: MaxUpdate | None) -> int | None:
    chat = update.chat if update is not None else None
    if chat is None:
        message = raw.get("message") if isinstance(raw.get("message"), dict) else {}
        recipient = message.get("recipient") if isinstance(message.get("recipient"), dict) else {}
        chat = recipient.get("chat_id", raw.get("chat_id"))
    try:
        return int(chat) if chat is not None else None
    except (TypeError, ValueError):
        return None


async def set_aside(raw: dict, update: MaxUpdate | None, key: int, reason: str, error: str, clock: Clock,
                    on_set_aside: OnSetAside | None) -> FollowUp:
    """Keep an update the desk cannot take in (never lost: `/parked` shows it), tell the leads once, and mark
    it done in the ledger, all in one transaction: the updates after it are taken in."""
    follow: list[FollowUp] = [None]

    async def tell(row: ParkedUpdate) -> None:
        if on_set_aside is not None:
            follow[0] = await on_set_aside(row, update)

    async with in_transaction():
        if await updates.handled(key):  # set aside (or handled) before: MAX delivered it again
            return None
        row, new = await parked.park(json.dumps(storable(raw), ensure_ascii=False, default=str), update_id=key,
                                     chat_id=_chat_id(raw, update), reason=reason, error=error, now=clock.now(),
                                     tell=tell, channel=NAME)
        await updates.mark_done(key, clock.now())
    if new:
        telemetry.PARKED.labels(reason).inc()
        log.error("MAX: update %s set aside as #%s (%s): %s", (update.key if update else "?")[:80], row.id, reason,
                  error.splitlines()[0][:300] if error else "")
    return follow[0]


async def handle_once(update: MaxUpdate, handle: Handle, clock: Clock) -> FollowUp:
    """Polling: handle the update unless the ledger says it was, and record it, in one transaction."""
    key = updates.channel_key(NAME, update.key)
    started = time.monotonic()
    async with in_transaction():
        if await updates.handled(key):
            return None
        after = await handle(update)
        await updates.record(key, clock.now())
    _handled(update, started)
    return after


def _handled(update: MaxUpdate, started: float) -> None:
    """One line per handled update, as for Telegram's."""
    log.info("MAX %s %s in chat %s handled in %.0f ms", update.kind, update.key[:48], update.chat,
             (time.monotonic() - started) * 1000)


async def _after(follow: FollowUp) -> None:
    """What an update owes once committed is a courtesy (a pop-up): its failure changes nothing stored."""
    if follow is None:
        return
    try:
        await follow()
    except Exception as exc:
        log.warning("MAX: a follow-up of an update failed: %s", str(exc).splitlines()[0][:200])


class MaxPoller:
    def __init__(self, bot: Bot, handle: Handle, clock: Clock, stopping: asyncio.Event, heartbeat=None,
                 timeout: int = 25, limit: int = 100, on_set_aside: OnSetAside | None = None,
                 backoff: float = 2.0) -> None:
        self.bot, self.handle, self.clock, self.stopping = bot, handle, clock, stopping
        self.heartbeat, self.timeout, self.limit = heartbeat, timeout, limit
        self.on_set_aside, self.backoff = on_set_aside, backoff

    async def run(self) -> None:
        marker = await updates.cursor(NAME)
        failures = 0
        while not self.stopping.is_set():
            fetch = await unless_stopped(GetUpdates(self.bot, self.limit, self.timeout, marker, TYPES).fetch(),
                                         self.stopping)
            if fetch is None:
                break
            try:
                batch = fetch.result()
                failures = 0
            except Exception as exc:  # the network, MAX, a revoked token: all pass; the cursor stays
                failures += 1
                delay = min(2 ** failures, 10)
                log.warning("MAX: GET /updates failed (%s); again in %ss", str(exc).splitlines()[0][:300], delay)
                if await sleep_unless(self.stopping, delay):
                    break
                continue
            for raw in batch.get("updates") or []:
                if not await self.take(raw):
                    return  # a stop came while an update was failing: the cursor stays before it
            following = batch.get("marker")
            if isinstance(following, int) and following != marker:
                await self._move(following)
                marker = following

    async def _move(self, marker: int) -> None:
        while True:  # the batch is handled; moving on must not be lost to a database blip either
            try:
                await updates.move_cursor(NAME, marker, self.clock.now())
                return
            except Exception:
                log.exception("MAX: the polling cursor could not be stored; again")
                if await sleep_unless(self.stopping, 1):
                    return  # the batch comes again after the restart; the ledger skips it

    async def take(self, raw: dict) -> bool:
        """Handle one update, retrying while it fails; False when a stop came first. One that cannot be read is
        set aside at once (reading it again gives the same); one whose handling fails `attempts.ATTEMPTS` times
        (counted across restarts) is set aside then: it no longer holds up every chat's updates behind it."""
        update, key, unreadable = identify(raw)

        async def handle() -> FollowUp:
            return await handle_once(update, self.handle, self.clock)

        async def aside(error: str, _tries: int) -> FollowUp:
            return await set_aside(raw, update, key, "failing", error, self.clock, self.on_set_aside)

        attempt = 0
        while True:
            try:
                if unreadable is not None:
                    after = await set_aside(raw, None, key, "unparseable", unreadable, self.clock, self.on_set_aside)
                else:
                    after = await attempts.take(key, handle, aside, self.clock.now)
                if self.heartbeat is not None:
                    self.heartbeat.update_handled(key)
                await _after(after)
                return True
            except Exception:
                attempt += 1
                if self.heartbeat is not None:
                    self.heartbeat.update_failed(key, self.clock.now())
                delay = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF)
                log.exception("MAX: update %s failed (attempt %d); retrying in %.1fs",
                              update.key[:80] if update else "?", attempt, delay)
                if await sleep_unless(self.stopping, delay):
                    return False


def webhook_route(secret: str, handle: Handle, clock: Clock, on_set_aside: OnSetAside | None = None,
                  ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`POST /max/webhook`: MAX's webhook, refusing any request without the subscription's secret.

    MAX redelivers an update answered other than 200 (about 10 times, backing off from a minute, for about 8
    hours, then drops it): a failing one is answered 500 while it may still go through, and 200 once it is set
    aside (its `attempts.ATTEMPTS`-th failure, a few minutes in), so it is kept here rather than dropped there."""
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get("X-Max-Bot-Api-Secret", "").encode("utf-8", "surrogateescape")
        if not secrets.compare_digest(given, expected):
            return web.Response(text="Unauthorized", status=401)
        try:
            raw = await request.json()
        except ValueError:
            return web.Response(text="Malformed JSON", status=400)
        if not isinstance(raw, dict) or not isinstance(raw.get("update_type"), str):
            return web.Response(text="Not a MAX update", status=400)
        update, key, unreadable = identify(raw)
        if unreadable is not None:
            try:
                await _after(await set_aside(raw, None, key, "unparseable", unreadable, clock, on_set_aside))
            except Exception:
                log.exception("MAX: an unreadable update could not be kept; MAX will deliver it again")
                return web.Response(text="Retry later", status=500)
            return web.json_response({"ok": True})
        if not await updates.claim(key, clock.now()):
            if await updates.handled(key):
                return web.json_response({"ok": True})
            return web.Response(text="In hand elsewhere; deliver it again", status=503)
        started = time.monotonic()

        async def attempt() -> FollowUp:
            async with in_transaction():
                after = await handle(update)
                await updates.finish(key, clock.now())
            _handled(update, started)
            return after

        async def aside(error: str, _tries: int) -> FollowUp:
            return await set_aside(raw, update, key, "failing", error, clock, on_set_aside)

        try:
            after = await attempts.take(key, attempt, aside, clock.now)
        except Exception:
            await updates.release(key)
            log.exception("MAX: update %s failed; MAX will deliver it again", update.key[:80])
            return web.Response(text="Retry later", status=500)
        await _after(after)
        return web.json_response({"ok": True})

    return receive
