"""The aiohttp app: POST /telegram/webhook (webhook mode), GET /healthz and GET /metrics."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tortoise import Tortoise
from tortoise.functions import Count

import telemetry
from bot.settings import Settings
from domain import outbox
from domain.clock import Clock
from domain.models import Incident
from scheduler.jobs import Heartbeat

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"
STUCK_UPDATE = timedelta(minutes=1)  # a database blip shorter than this does not flip the health
MAX_BODY = 1024 * 1024  # Telegram's updates are far smaller; anything bigger is refused with 413


class WebhookHandler(SimpleRequestHandler):
    """aiogram's handler, answering bad requests with 400 and handling each update before answering,
    so Telegram redelivers an update whose handling failed (500) instead of it being lost."""

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), self.bot):
            return web.Response(text="Unauthorized", status=401)
        try:
            update = await request.json()
        except ValueError:
            return web.Response(text="Malformed JSON", status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(text="Not a Telegram update", status=400)
        try:
            await self.dispatcher.feed_raw_update(self.bot, update, **self.data)
        except Exception:
            log.exception("update %s failed; Telegram will deliver it again", update.get("update_id"))
            return web.Response(text="Retry later", status=500)
        return web.json_response({})


def healthy_tick(heartbeat: Heartbeat, clock: Clock, every: timedelta) -> bool:
    return heartbeat.last_tick is not None and clock.now() - heartbeat.last_tick <= 3 * every + timedelta(seconds=10)


def build_web_app(settings: Settings, dp: Dispatcher, bot: Bot, heartbeat: Heartbeat, clock: Clock) -> web.Application:
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
        if problems:
            return web.json_response({"status": "unhealthy", "problems": problems}, status=503)
        return web.json_response({"status": "ok"})

    async def metrics(request: web.Request) -> web.Response:
        try:
            await refresh_gauges(clock)
        except Exception as exc:  # the counters are still worth serving while the database is away
            log.warning("metrics: database gauges not refreshed: %s", exc)
        return web.Response(body=generate_latest(telemetry.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if settings.mode == "webhook":
        WebhookHandler(dispatcher=dp, bot=bot, secret_token=settings.webhook_secret,
                       handle_in_background=False).register(app, path=WEBHOOK_PATH)
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
    telemetry.OLDEST.set((now - oldest).total_seconds() if oldest else 0)
