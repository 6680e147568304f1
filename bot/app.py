"""The aiogram Bot and Dispatcher factory and the polling runner."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message, Update
from aiohttp import web

from bot.db import close_database, open_database
from bot.settings import Settings
from bot.web import build_web_app
from domain import claims, incidents, people, updates
from domain.access import Role
from domain.clock import Clock, SystemClock
from domain.lang import of_person_row
from domain.models import Person, Staff
from domain.sla import Sla
from handlers import common, customer_chat, lead_admin, membership, oncall, pings, reports, staff
from handlers.membership import ChatMigration
from handlers.menus import set_default_menus, set_person_menu
from handlers.middlewares import DeskMiddleware, OnceMiddleware
from handlers.pings import make_on_created, make_render
from scheduler.dispatcher import Dispatcher as OutboxDispatcher
from scheduler.dispatcher import chat_notice
from scheduler.jobs import Heartbeat, Tick, build_scheduler
from scheduler.leader import leader_for

log = logging.getLogger("dutydesk")


def build_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(settings.bot_token, session=session)


def build_dispatcher(settings: Settings, clock: Clock) -> Dispatcher:
    sla = Sla(settings.policy)
    # `wake_outbox` is replaced by the running dispatcher's wake-up; in tests it does nothing.
    # No FSM: nothing here is a conversation with steps, and it costs a lookup per update.
    dp = Dispatcher(sla=sla, on_created=make_on_created(settings, sla), wake_outbox=lambda: None, disable_fsm=True,
                    clock=clock, settings=settings, chat_notice=chat_notice)
    dp.update.outer_middleware(OnceMiddleware(clock, exclusive=settings.mode == "polling"))
    dp.message.outer_middleware(ChatMigration())  # before anyone is resolved in the chat's old id
    middleware = DeskMiddleware(settings, clock)
    for observer in (dp.message, dp.edited_message, dp.callback_query):
        observer.outer_middleware(middleware)
    dp.include_routers(membership.build_router(), common.build_router(), lead_admin.build_router(),
                       oncall.build_router(), reports.build_router(),
                       staff.build_router(), pings.build_router(), customer_chat.build_router())
    return dp


async def identify(bot: Bot) -> None:
    """Who the bot is (a wrong token fails here, before anything else), and the privacy check."""
    me = await bot.get_me()
    log.info("running as @%s (id %s)", me.username, me.id)
    if not me.can_read_all_group_messages:
        log.warning(
            "group privacy mode is on: @%s sees only commands and replies in groups it is not an admin of. "
            "Turn it off in @BotFather (Bot Settings → Group Privacy) or make the bot an admin of each "
            "customer chat.", me.username,
        )


async def set_menus(bot: Bot, settings: Settings) -> None:
    """Command menus: a call per staff member, so they are set beside the polling, not before it —
    a restart takes customers' messages again as soon as it can."""
    try:
        await set_default_menus(bot, settings.default_lang)
        for member in await Staff.filter(active=True):
            person = await Person.get_or_none(id=member.user_id)
            role = Role.LEAD if member.user_id in settings.lead_ids else Role(member.role)
            lang = of_person_row(person, settings.default_lang)
            await set_person_menu(bot, member.user_id, role, lang)
    except Exception:
        log.exception("setting the command menus failed; they are set again at the next start")


class Background:
    """The scheduler's tick and the outbox dispatcher, running beside the update handling."""

    def __init__(self, bot: Bot, dp: Dispatcher, settings: Settings, clock: Clock) -> None:
        self.heartbeat = Heartbeat()
        self.leader = leader_for(settings.database_url)
        self.tick = Tick(settings, clock, dp["sla"], make_render(settings), self.heartbeat, self.leader)
        self.scheduler = build_scheduler(self.tick, settings.scheduler_tick, clock)
        self.dispatcher = OutboxDispatcher(bot, clock, settings)
        self.stopping = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self, sole_instance: bool) -> None:
        self.scheduler.start()
        self.task = asyncio.create_task(self.dispatcher.run(self.stopping, sole_instance=sole_instance),
                                        name="outbox")

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        async with self.tick.running:  # no new tick starts now; the one in hand finishes
            pass
        self.stopping.set()
        if self.task is not None:
            await self.task
        await self.leader.close()


# Lanes handled at once. More only lengthen the queue for the database (one SQLite connection, a small
# PostgreSQL pool) in front of the scheduler's tick and the outbox, whose pings must not wait.
LANES = 8


def lanes_of(updates: list[Update]) -> list[list[Update]]:
    """Split a batch into lanes handled side by side: updates that share a chat or a person stay in one
    lane, in Telegram's order (a lead's /customer_add in private comes before their /bind in the group)."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def root(key: tuple[str, int]) -> tuple[str, int]:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    keys = []
    for update in updates:
        try:
            event = update.event
        except LookupError:  # a kind of update this aiogram does not know: a lane of its own
            event = None
        message = event if isinstance(event, Message) else getattr(event, "message", None)
        chat = getattr(message, "chat", None)
        user = getattr(event, "from_user", None)
        mine: list[tuple[str, int]] = [("chat", chat.id)] if chat is not None else []
        mine += [("user", user.id)] if user is not None else []
        mine = mine or [("update", update.update_id)]
        for other in mine[1:]:
            parent[root(other)] = root(mine[0])
        keys.append(mine[0])
    lanes: dict[tuple[str, int], list[Update]] = {}
    for update, key in zip(updates, keys, strict=True):
        lanes.setdefault(root(key), []).append(update)
    return list(lanes.values())


async def poll(bot: Bot, dp: Dispatcher, stopping: asyncio.Event, heartbeat: Heartbeat, clock: Clock,
               timeout: int = 25) -> None:
    """Long polling that never drops an update: each one is handled (retried while handling fails)
    before the next `getUpdates` confirms it. Within a chat, updates are handled one at a time in
    Telegram's order — a follow-up never overtakes the message that opened its incident; unrelated
    chats of one batch are handled side by side (`lanes_of`). A stop request ends the loop between
    updates."""
    offset: int | None = None
    allowed = dp.resolve_used_update_types()
    failures = 0
    while not stopping.is_set():
        fetch = asyncio.ensure_future(bot.get_updates(offset=offset, timeout=timeout, allowed_updates=allowed))
        stop = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not fetch.done():
            fetch.cancel()
            break
        try:
            updates = fetch.result()
            failures = 0
        except TelegramAPIError as exc:
            failures += 1
            delay = min(2 ** failures, 10)  # come back soon after Telegram does
            log.warning("getUpdates failed (%s); again in %ss", exc, delay)
            await _sleep_unless(stopping, delay)
            continue
        gate = asyncio.Semaphore(LANES)
        finished = await asyncio.gather(*(_handle_lane(bot, dp, lane, stopping, gate, heartbeat, clock)
                                          for lane in lanes_of(updates)))
        if not all(finished):
            return  # unconfirmed: Telegram delivers them again after the restart (handled ones are skipped)
        if updates:
            offset = updates[-1].update_id + 1


async def _handle_lane(bot: Bot, dp: Dispatcher, lane: list[Update], stopping: asyncio.Event,
                       gate: asyncio.Semaphore, heartbeat: Heartbeat, clock: Clock) -> bool:
    """One lane's updates in order, each retried until it is handled; False when a stop came first."""
    async with gate:
        for update in lane:
            if stopping.is_set():
                return False
            attempt = 0
            while True:
                try:
                    await dp.feed_update(bot, update)
                    heartbeat.update_handled(update.update_id)
                    break
                except Exception:
                    heartbeat.update_failed(update.update_id, clock.now())
                    attempt += 1
                    delay = min(2 ** attempt, 30)
                    log.exception("update %s failed (attempt %d); retrying in %ss", update.update_id, attempt,
                                  delay)
                    if await _sleep_unless(stopping, delay):
                        return False
    return True


async def _sleep_unless(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep; True when a stop was requested meanwhile."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
        return True
    except TimeoutError:
        return False


async def run(settings: Settings, clock: Clock | None = None) -> None:
    """Run until SIGTERM or SIGINT: stop taking updates, finish the one in hand, stop the background
    work, and return (the process then exits 0). Everything owed is already in the database."""
    clock = clock or SystemClock()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await open_database(settings.database_url)
    try:
        await people.ensure_leads(settings.lead_ids, clock.now())
        # Open incidents follow the policy in force: recomputed once per policy, not at every start.
        policy_key = "policy:" + hashlib.sha256(repr(settings.policy).encode()).hexdigest()
        if not await claims.done(policy_key):
            changed = await incidents.recompute_deadlines(Sla(settings.policy))
            await claims.mark_done(policy_key, clock.now())
            if changed:
                log.info("the policy changed: %d open incidents got new deadlines", changed)
        bot = build_bot(settings)
        dp = build_dispatcher(settings, clock)
        await identify(bot)
        menus = asyncio.create_task(set_menus(bot, settings), name="menus")
        background = Background(bot, dp, settings, clock)
        dp["wake_outbox"] = background.dispatcher.wake.set
        background.start(sole_instance=settings.mode == "polling")  # polling: one instance by construction
        runner = web.AppRunner(build_web_app(settings, dp, bot, background.heartbeat, clock), access_log=None,
                               shutdown_timeout=8)
        await runner.setup()
        await web.TCPSite(runner, settings.web_host, settings.web_port).start()
        log.info("listening on %s:%s (/healthz, /metrics%s)", settings.web_host, settings.web_port,
                 ", /telegram/webhook" if settings.mode == "webhook" else "")
        try:
            if settings.mode == "webhook":
                await bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret,
                                      allowed_updates=dp.resolve_used_update_types(), max_connections=1)
                await stopping.wait()
            else:
                await updates.release_unfinished()
                await bot.delete_webhook(drop_pending_updates=False)
                await poll(bot, dp, stopping, background.heartbeat, clock)
        finally:
            log.info("stopping: finishing the work in hand")
            await runner.cleanup()  # webhook requests in flight finish first
            menus.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await menus
            await background.stop()
            await bot.session.close()
    finally:
        await close_database()
