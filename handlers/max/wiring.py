"""Starting MAX beside the bot (called by the composition root only when `MAX_BOT_TOKEN` is set)."""

from __future__ import annotations

import asyncio
import logging

from maxapi import Bot
from maxapi.client.default import DefaultConnectionProperties
from maxapi.methods.get_subscriptions import GetSubscriptions
from maxapi.methods.subscribe_webhook import SubscribeWebhook
from maxapi.methods.unsubscribe_webhook import UnsubscribeWebhook

from domain.clock import Clock
from handlers.max.room import make_handle, make_on_set_aside
from handlers.max.transport import TYPES, Handle, MaxPoller, OnSetAside, webhook_route

__all__ = ["build_max_bot", "make_handle", "make_on_set_aside", "start_polling", "subscribe", "webhook"]

log = logging.getLogger(__name__)


def build_max_bot(settings) -> Bot:
    """One client for sending and polling. Its own retries are off: the courier and the poller retry with
    their own backoff and know what a refusal means."""
    bot = Bot(settings.max.token, auto_requests=False, auto_check_subscriptions=False,
              default_connection=DefaultConnectionProperties(timeout=60, max_retries=0))
    bot.set_api_url(settings.max.api_url)
    return bot


async def _identify(bot: Bot) -> None:
    try:
        me = await bot.get_me()
        log.info("MAX: running as %s (id %s)", me.username or me.first_name, me.user_id)
    except Exception as exc:  # MAX away or the token refused: the poller keeps trying and says so
        log.error("MAX: the bot could not identify itself (%s); check MAX_BOT_TOKEN", str(exc).splitlines()[0][:200])


async def start_polling(bot: Bot, handle: Handle, clock: Clock, stopping: asyncio.Event, heartbeat,
                        on_set_aside: OnSetAside | None = None) -> asyncio.Task:
    """Long polling: MAX serves `GET /updates` only to a bot with no webhook subscription, so any left from a
    webhook run is removed first (as Telegram's webhook is deleted before polling)."""
    await _identify(bot)
    try:
        for subscription in (await GetSubscriptions(bot).fetch()).subscriptions:
            await UnsubscribeWebhook(bot, subscription.url).fetch()
            log.info("MAX: removed the webhook subscription %s to poll", subscription.url)
    except Exception as exc:
        log.warning("MAX: the webhook subscriptions could not be checked (%s)", str(exc).splitlines()[0][:200])
    poller = MaxPoller(bot, handle, clock, stopping, heartbeat, on_set_aside=on_set_aside)
    return asyncio.create_task(poller.run(), name="max-polling")


async def subscribe(bot: Bot, settings) -> None:
    """Webhook mode: MAX posts updates to MAX_WEBHOOK_URL with MAX_WEBHOOK_SECRET."""
    await _identify(bot)
    await SubscribeWebhook(bot, settings.max.webhook_url, TYPES, settings.max.webhook_secret).fetch()
    log.info("MAX: updates are posted to %s", settings.max.webhook_url)


def webhook(settings, handle: Handle, clock: Clock, on_set_aside: OnSetAside | None = None):
    """The `POST /max/webhook` route, checking MAX_WEBHOOK_SECRET."""
    return webhook_route(settings.max.webhook_secret, handle, clock, on_set_aside)
