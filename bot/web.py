"""The aiohttp app: POST /telegram/webhook and POST /max/webhook (webhook mode), GET /healthz, GET /metrics,
and the desk page (`bot.desk_web`: /desk, /wallboard, loaded at its first request)."""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError
from tortoise import Tortoise
from tortoise.functions import Count

import telemetry
from bot import desk_routes
from bot.max_settings import WEBHOOK_PATH as MAX_WEBHOOK_PATH
from bot.settings import Settings
from domain import outbox, parked, updates
from domain.clock import Clock
from domain.models import Incident
from handlers.parked import Parking
from scheduler.jobs import Heartbeat
from telemetry.metrics import CONTENT_TYPE

if TYPE_CHECKING:  # the mail packages are imported only when e-mail is configured
    from handlers.email.imap import MailboxHealth

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"
STUCK_UPDATE = timedelta(minutes=1)  # a database blip shorter than this does not flip the health
# The IMAP loop retries a lost link with a backoff up to a minute: several failed tries, not one blip.
MAILBOX_AWAY = timedelta(minutes=5)
MAX_BODY = 1024 * 1024  # Telegram's updates are far smaller; anything bigger is refused with 413


class WebhookHandler(SimpleRequestHandler):
    """aiogram's handler, answering bad requests with 400 and handling each update before answering,
    so Telegram redelivers an update whose handling failed (500) instead of it being lost.

    Telegram holds back the updates after one it redelivers, so an update is never answered 500 for
    long: one this version cannot read is parked at once, one still failing `park_after` (monotonic)
    after its first failure is parked; both are answered 200. A permanent Telegram refusal inside the
    handling is already an end of it (`OnceMiddleware`): 200 too."""

    def __init__(self, *args, parking: Parking, park_after: float, monotonic=time.monotonic, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.parking, self.park_after = parking, park_after
        self.monotonic = monotonic
        self.first_failure: dict[int, float] = {}  # update id → monotonic time of its first failure

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        """Compared as bytes: aiogram's str comparison raises on a non-ASCII header (a 500 with a traceback
        for any stranger who sends one) instead of refusing it."""
        if not self.secret_token:
            return True
        return secrets.compare_digest(telegram_secret_token.encode("utf-8", "surrogateescape"),
                                      self.secret_token.encode("utf-8"))

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), self.bot):
            return web.Response(text="Unauthorized", status=401)
        try:
            raw = await request.json()
        except ValueError:
            return web.Response(text="Malformed JSON", status=400)
        if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
            return web.Response(text="Not a Telegram update", status=400)
        update_id = raw["update_id"]
        try:
            update = Update.model_validate(raw, context={"bot": self.bot})
        except ValidationError as error:
            return await self._park(raw, "unparseable", str(error))
        try:
            await self.dispatcher.feed_update(self.bot, update, **self.data)
        except updates.InHandElsewhere:
            # Another instance claimed it and has not finished: it may be working on it, or dead. Not 200,
            # or Telegram would never send it again; the redelivery finds it done, or the claim stale.
            return web.Response(text="In hand elsewhere; deliver it again", status=503)
        except Exception as exc:
            # Not reported to /healthz: the redelivery may reach another instance, and this one would never
            # hear that it passed. Failures older than twice the budget are forgotten for the same reason.
            now = self.monotonic()
            self.first_failure = {k: v for k, v in self.first_failure.items() if now - v <= 2 * self.park_after}
            first = self.first_failure.setdefault(update_id, now)
            if now - first >= self.park_after:
                return await self._park(raw, "failing", f"{type(exc).__name__}: {exc}")
            log.exception("update %s failed; Telegram will deliver it again", update_id)
            return web.Response(text="Retry later", status=500)
        self._forget(update_id)
        return web.json_response({})

    async def _park(self, raw: dict, reason: str, error: str) -> web.Response:
        try:
            await self.parking.park(raw, reason, error)
        except Exception:
            log.exception("update %s could not be parked; Telegram will deliver it again", raw["update_id"])
            return web.Response(text="Retry later", status=500)
        self._forget(raw["update_id"])
        return web.json_response({})

    def _forget(self, update_id: int) -> None:
        self.first_failure.pop(update_id, None)


def healthy_tick(heartbeat: Heartbeat, clock: Clock, every: timedelta) -> bool:
    return heartbeat.last_tick is not None and clock.now() - heartbeat.last_tick <= 3 * every + timedelta(seconds=10)


def mailbox_away(health: MailboxHealth, clock: Clock, longer_than: timedelta = MAILBOX_AWAY) -> timedelta | None:
    """How long the mailbox has been away, when that is longer than `longer_than`: the desk is deaf to mail.
    A shorter gap (a reconnect, a server restart) is only reported."""
    if health.connected or health.since is None:
        return None
    away = clock.now() - health.since
    return away if away > longer_than else None


def mailbox_report(health: MailboxHealth, clock: Clock) -> dict:
    """The mailbox in /healthz: connected or not, since when and why, so an operator sees the desk is deaf
    to mail; away longer than `MAILBOX_AWAY` it is a problem too (`mailbox_away`)."""
    since = int((clock.now() - health.since).total_seconds()) if health.since else None
    return {"connected": health.connected, "waiting": "idle" if health.idle else "poll",
            "for_seconds": since, "error": health.last_error}


def build_web_app(settings: Settings, dp: Dispatcher, bot: Bot, heartbeat: Heartbeat, clock: Clock,
                  parking: Parking | None = None, mailbox: MailboxHealth | None = None,
                  express=None, max_webhook=None) -> web.Application:
    """`max_webhook`: MAX's webhook route (`handlers.max.transport.webhook_route`), in webhook mode with MAX on."""
    app = web.Application(client_max_size=MAX_BODY)

    async def healthz(request: web.Request) -> web.Response:
        problems = []
        try:
            await Tortoise.get_connection("default").execute_query("SELECT 1")
        except Exception as exc:
            problems.append(f"database: {type(exc).__name__}")
        if not healthy_tick(heartbeat, clock, settings.scheduler_tick):
            problems.append("scheduler: no recent tick")
        stuck = heartbeat.stuck_update(clock.now(), STUCK_UPDATE)
        if stuck is not None:
            problems.append(f"updates: update {stuck[0]} failing for {int(stuck[1].total_seconds())} s")
        body: dict = {}
        # Parked updates wait for a lead; the process is healthy (a restart would not help them).
        with contextlib.suppress(Exception):  # a database problem is reported above
            body["parked"] = await parked.count_waiting()
        if mailbox is not None:
            body["mailbox"] = mailbox_report(mailbox, clock)
            away = mailbox_away(mailbox, clock)
            if away is not None:
                problems.append(f"mailbox: away for {int(away.total_seconds())} s"
                                + (f" ({mailbox.last_error})" if mailbox.last_error else ""))
        if problems:
            return web.json_response({"status": "unhealthy", "problems": problems, **body}, status=503)
        return web.json_response({"status": "ok", **body})

    async def metrics(request: web.Request) -> web.Response:
        try:
            await refresh_gauges(clock)
        except Exception as exc:  # the counters are still worth serving while the database is away
            log.warning("metrics: database gauges not refreshed: %s", exc)
        return web.Response(body=telemetry.REGISTRY.exposition().encode(),
                            headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if settings.mode == "webhook":
        WebhookHandler(dispatcher=dp, bot=bot, secret_token=settings.webhook_secret, handle_in_background=False,
                       parking=parking or Parking(settings, clock),
                       park_after=settings.park_after.total_seconds()).register(app, path=WEBHOOK_PATH)
    if max_webhook is not None:
        app.router.add_post(MAX_WEBHOOK_PATH, max_webhook)
    pages = None

    def desk_pages():
        nonlocal pages
        if pages is None:  # the first request to the desk page: its code is loaded now (`bot.desk_routes`)
            from bot.desk_web import DeskPages

            pages = DeskPages(settings, clock, dp["desk"].sla)
        return pages

    desk_routes.register(app, desk_pages)
    if express is not None:  # the eXpress bot's endpoints (`handlers.express.server`), under /express/
        express.register(app)
    return app


async def refresh_gauges(clock: Clock) -> None:
    now = clock.now()
    rows = await (Incident.filter(status__in=("new", "in_progress")).annotate(n=Count("id"))
                  .group_by("plan", "priority").values_list("plan", "priority", "n"))
    telemetry.OPEN.clear()
    for plan, priority, count in rows:
        telemetry.OPEN.labels(plan, priority).set(count)
    telemetry.BREACHES.set(await Incident.filter(status__in=("new", "in_progress"), responded_at__isnull=True,
                                                 deadline__lt=now).count())
    backlog, oldest = await outbox.backlog(now)
    telemetry.BACKLOG.set(backlog)
    telemetry.PARKED_WAITING.set(await parked.count_waiting())
    telemetry.OLDEST.set((now - oldest).total_seconds() if oldest else 0)
