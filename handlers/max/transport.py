"""How MAX updates reach the desk: long polling (the default) or MAX's webhook (`MODE=webhook`), each update
handled once and none lost.

* Polling asks `GET /updates` from the stored cursor (`domain.updates.cursor`: MAX's `marker`). Each update is
  handled in one transaction with its row in the update ledger (`domain.updates.channel_key`), and the cursor
  moves past a batch only after every update of it committed. A stop or a crash in the middle leaves the cursor
  where it was: after a restart MAX sends the batch again, the ledger skips the updates already handled, and
  the rest are handled now. An update whose handling fails (the database away) is retried with backoff and
  holds up the ones after it, never skipped; /healthz names it while it fails.
* Webhook: MAX posts each update to `/max/webhook` with the secret given at subscription in
  `X-Max-Bot-Api-Secret`; a request without it is refused (401) and changes nothing. An update is handled
  before the answer: one that fails gets a 500, so MAX delivers it again; two instances receiving the same one
  handle it once (the ledger's claim).
* An update `maxapi` cannot read (MAX added a kind of update) is logged whole and passed over.
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

from domain import updates
from domain.clock import Clock
from handlers.max.updates import NAME, MaxUpdate, Unreadable, read

log = logging.getLogger(__name__)
MAX_BACKOFF = 30.0
MAX_BODY = 1024 * 1024
# The updates the desk reads; the others MAX need not send at all.
TYPES = ["message_created", "message_edited", "message_callback", "bot_added", "bot_removed", "bot_started"]

# Handles one update inside its transaction; may return what to do once it committed (a button's pop-up).
Handle = Callable[[MaxUpdate], Awaitable[Callable[[], Awaitable[None]] | None]]


async def handle_once(update: MaxUpdate, handle: Handle, clock: Clock) -> Callable[[], Awaitable[None]] | None:
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


async def _after(follow: Callable[[], Awaitable[None]] | None) -> None:
    """What an update owes once committed is a courtesy (a pop-up): its failure changes nothing stored."""
    if follow is None:
        return
    try:
        await follow()
    except Exception as exc:
        log.warning("MAX: a follow-up of an update failed: %s", str(exc).splitlines()[0][:200])


class MaxPoller:
    def __init__(self, bot: Bot, handle: Handle, clock: Clock, stopping: asyncio.Event, heartbeat=None,
                 timeout: int = 25, limit: int = 100) -> None:
        self.bot, self.handle, self.clock, self.stopping = bot, handle, clock, stopping
        self.heartbeat, self.timeout, self.limit = heartbeat, timeout, limit

    async def run(self) -> None:
        marker = await updates.cursor(NAME)
        failures = 0
        while not self.stopping.is_set():
            fetch = asyncio.ensure_future(GetUpdates(self.bot, self.limit, self.timeout, marker, TYPES).fetch())
            stop = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not fetch.done():
                fetch.cancel()
                break
            try:
                batch = fetch.result()
                failures = 0
            except Exception as exc:  # the network, MAX, a revoked token: all pass; the cursor stays
                failures += 1
                delay = min(2 ** failures, 10)
                log.warning("MAX: GET /updates failed (%s); again in %ss", str(exc).splitlines()[0][:300], delay)
                if await _sleep_unless(self.stopping, delay):
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
                if await _sleep_unless(self.stopping, 1):
                    return  # the batch comes again after the restart; the ledger skips it

    async def take(self, raw: dict) -> bool:
        """Handle one update, retrying while it fails; False when a stop came first."""
        try:
            update = read(raw)
        except Unreadable as error:
            log.warning("MAX: an update this version cannot read is passed over (%s): %s", error,
                        json.dumps(raw, ensure_ascii=False)[:2000])
            return True
        key = updates.channel_key(NAME, update.key)
        attempt = 0
        while True:
            try:
                after = await handle_once(update, self.handle, self.clock)
                if self.heartbeat is not None:
                    self.heartbeat.update_handled(key)
                await _after(after)
                return True
            except Exception:
                attempt += 1
                if self.heartbeat is not None:
                    self.heartbeat.update_failed(key, self.clock.now())
                delay = min(2 ** attempt, MAX_BACKOFF)
                log.exception("MAX: update %s failed (attempt %d); retrying in %.0fs", update.key[:80], attempt, delay)
                if await _sleep_unless(self.stopping, delay):
                    return False


async def _sleep_unless(stopping: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
        return True
    except TimeoutError:
        return False


def webhook_route(secret: str, handle: Handle, clock: Clock) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`POST /max/webhook`: MAX's webhook, refusing any request without the subscription's secret."""
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
        try:
            update = read(raw)
        except Unreadable as error:
            log.warning("MAX: an update this version cannot read is passed over (%s): %s", error,
                        json.dumps(raw, ensure_ascii=False)[:2000])
            return web.json_response({"ok": True})
        key = updates.channel_key(NAME, update.key)
        if not await updates.claim(key, clock.now()):
            if await updates.handled(key):
                return web.json_response({"ok": True})
            return web.Response(text="In hand elsewhere; deliver it again", status=503)
        started = time.monotonic()
        try:
            async with in_transaction():
                after = await handle(update)
                await updates.finish(key, clock.now())
            _handled(update, started)
        except Exception:
            await updates.release(key)
            log.exception("MAX: update %s failed; MAX will deliver it again", update.key[:80])
            return web.Response(text="Retry later", status=500)
        await _after(after)
        return web.json_response({"ok": True})

    return receive
