"""The aiogram Bot and Dispatcher factory and the polling runner."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.db import close_database, open_database
from bot.settings import Settings
from domain import incidents, people
from domain.access import Role
from domain.clock import Clock, SystemClock
from domain.models import Person, Staff
from domain.sla import Sla
from handlers import common, customer_chat, lead_admin, oncall, pings, reports, staff
from handlers.menus import set_default_menus, set_person_menu
from handlers.middlewares import DeskMiddleware, OnceMiddleware
from handlers.pings import make_on_created, make_render
from scheduler.dispatcher import Dispatcher as OutboxDispatcher
from scheduler.jobs import Heartbeat, Tick, build_scheduler

log = logging.getLogger("dutydesk")


def build_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(settings.bot_token, session=session)


def build_dispatcher(settings: Settings, clock: Clock) -> Dispatcher:
    sla = Sla(settings.policy)
    dp = Dispatcher(sla=sla, on_created=make_on_created(settings, sla))
    dp.update.outer_middleware(OnceMiddleware(clock))
    middleware = DeskMiddleware(settings, clock)
    for observer in (dp.message, dp.edited_message, dp.callback_query):
        observer.outer_middleware(middleware)
    dp.include_routers(common.build_router(), lead_admin.build_router(), oncall.build_router(), reports.build_router(),
                       staff.build_router(), pings.build_router(), customer_chat.build_router())
    return dp


async def prepare(bot: Bot, settings: Settings, clock: Clock) -> None:
    """Start-up work against Telegram: identity, privacy check, command menus."""
    me = await bot.get_me()
    log.info("running as @%s (id %s)", me.username, me.id)
    if not me.can_read_all_group_messages:
        log.warning(
            "group privacy mode is on: @%s sees only commands and replies in groups it is not an admin of. "
            "Turn it off in @BotFather (Bot Settings → Group Privacy) or make the bot an admin of each "
            "customer chat.", me.username,
        )
    await set_default_menus(bot, settings.default_lang)
    for member in await Staff.filter(active=True):
        person = await Person.get_or_none(id=member.user_id)
        role = Role.LEAD if member.user_id in settings.lead_ids else Role(member.role)
        lang = (person.lang if person else None) or settings.default_lang
        await set_person_menu(bot, member.user_id, role, lang)


class Background:
    """The scheduler's tick and the outbox dispatcher, running beside the update handling."""

    def __init__(self, bot: Bot, dp: Dispatcher, settings: Settings, clock: Clock) -> None:
        self.heartbeat = Heartbeat()
        tick = Tick(settings, clock, dp["sla"], make_render(settings), self.heartbeat)
        self.scheduler = build_scheduler(tick, settings.scheduler_tick, clock)
        self.dispatcher = OutboxDispatcher(bot, clock, settings)
        self.stopping = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.scheduler.start()
        self.task = asyncio.create_task(self.dispatcher.run(self.stopping), name="outbox")

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        self.stopping.set()
        if self.task is not None:
            await self.task


async def run_polling(settings: Settings, clock: Clock | None = None) -> None:
    clock = clock or SystemClock()
    await open_database(settings.database_url)
    try:
        await people.ensure_leads(settings.lead_ids, clock.now())
        changed = await incidents.recompute_deadlines(Sla(settings.policy))
        if changed:
            log.info("the policy changed: %d open incidents got new deadlines", changed)
        bot = build_bot(settings)
        dp = build_dispatcher(settings, clock)
        await prepare(bot, settings, clock)
        background = Background(bot, dp, settings, clock)
        background.start()
        await bot.delete_webhook(drop_pending_updates=False)
        try:
            # Updates are handled one at a time, in Telegram's order: a follow-up must never overtake the
            # message that opened its incident. (Per-chat parallelism is a later optimisation.)
            await dp.start_polling(bot, polling_timeout=25, handle_as_tasks=False, close_bot_session=False,
                                   allowed_updates=dp.resolve_used_update_types())
        finally:
            await background.stop()
            await bot.session.close()
    finally:
        await close_database()
