"""The aiogram Bot and Dispatcher factory and the polling runner."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import time
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramBadRequest
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import Message, Update
from aiohttp import web
from pydantic import ValidationError

import telemetry
from bot.db import close_database, open_database, small_cache
from bot.settings import Settings
from bot.web import build_web_app
from domain import claims, incidents, parked, people, updates
from domain.access import Role
from domain.channels import Channels
from domain.clock import Clock, SystemClock
from domain.intake import Windows
from domain.lang import of_person_row
from domain.models import Person, Staff
from domain.sla import Sla
from handlers import common, customer_chat, desk_page, lead_admin, membership, oncall, pings, reply, reports, staff
from handlers import parked as parked_handlers
from handlers.batch_intake import BatchIntake
from handlers.desk import Desk
from handlers.membership import ChatMigration
from handlers.menus import set_default_menus, set_person_menu
from handlers.middlewares import DeskMiddleware, OnceMiddleware
from handlers.parked import Parking
from handlers.pings import make_on_created
from handlers.stopping import sleep_unless, unless_stopped
from handlers.telegram_channel import Pacer, TelegramChannel
from scheduler.courier import Courier, chat_notice
from scheduler.jobs import Heartbeat, Tick
from scheduler.leader import leader_for
from scheduler.ticker import Ticker

if TYPE_CHECKING:
    from handlers.email.imap import ImapLoop

log = logging.getLogger("dutydesk")


POPUP_LIMIT = 200  # Telegram refuses a longer answerCallbackQuery text


class ExpiredButtonAnswers(BaseRequestMiddleware):
    """A button pressed while the bot was down can no longer be answered (400 "query is too old"): the
    press still takes effect and the handler goes on; only the little pop-up is lost. A pop-up text over
    Telegram's 200 characters (long names, long codes) is cut to fit rather than refused."""

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Bot, method: TelegramMethod):
        if isinstance(method, AnswerCallbackQuery) and method.text and len(method.text) > POPUP_LIMIT:
            method.text = method.text[:POPUP_LIMIT - 1] + "…"
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            if not isinstance(method, AnswerCallbackQuery):
                raise
            telemetry.REFUSALS.labels("old_query").inc()
            log.info("a button press could not be answered (%s); its effect stands", exc)
            return True


def build_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(ExpiredButtonAnswers())
    return Bot(settings.bot_token, session=session)


def build_dispatcher(settings: Settings, clock: Clock) -> Dispatcher:
    sla = Sla(settings.policy)
    # The handlers' one context (`handlers.desk`); its `wake_outbox` is set when the outbox runs.
    desk = Desk(clock=clock, settings=settings, sla=sla, on_created=make_on_created(settings, sla),
                chat_notice=chat_notice)
    # No FSM: nothing here is a conversation with steps, and it costs a lookup per update.
    dp = Dispatcher(desk=desk, disable_fsm=True)
    dp.update.outer_middleware(OnceMiddleware(clock, exclusive=settings.mode == "polling"))
    dp.message.outer_middleware(ChatMigration())  # before anyone is resolved in the chat's old id
    middleware = DeskMiddleware(settings, clock)
    for observer in (dp.message, dp.edited_message, dp.callback_query):
        observer.outer_middleware(middleware)
    dp.include_routers(membership.build_router(), common.build_router(), lead_admin.build_router(),
                       oncall.build_router(), reports.build_router(), staff.build_router(), reply.build_router(),
                       pings.build_router(), parked_handlers.build_router(), desk_page.build_router(),
                       customer_chat.build_router())
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


async def set_menus(bot: Bot, settings: Settings, left_staff: list[int] | None = None) -> None:
    """Command menus: a call per staff member, so they are set beside the polling, not before it —
    a restart takes customers' messages again as soon as it can. `left_staff` (leads taken out of
    LEAD_IDS who were not staff before) lose their lead menu."""
    try:
        await set_default_menus(bot, settings.default_lang)
        for user_id in left_staff or []:
            await set_person_menu(bot, user_id, Role.STRANGER, settings.default_lang)
        for member in await Staff.filter(active=True):
            person = await Person.get_or_none(id=member.user_id)
            role = Role.LEAD if member.user_id in settings.lead_ids else Role(member.role)
            lang = of_person_row(person, settings.default_lang)
            await set_person_menu(bot, member.user_id, role, lang)
    except Exception:
        log.exception("setting the command menus failed; they are set again at the next start")


def build_channels(bot: Bot, settings: Settings, clock: Clock, pacer: Pacer | None = None,
                   express=None, max_bot=None) -> Channels:
    """The channels the outbox's notices leave by: Telegram always; a new channel is one more
    `channels.register(…)` here, for when its settings are given. `express` is the running eXpress bot
    (`build_express`), whose endpoints receive the results of what its channel sends; `max_bot` MAX's client,
    when MAX is on."""
    channels = Channels()
    channels.register(TelegramChannel(bot, clock, settings, pacer))
    if settings.mail is not None:  # the mail packages are imported only when e-mail is configured
        from handlers.email.channel import EmailChannel
        from handlers.email.smtp import SmtpSender

        channels.register(EmailChannel(SmtpSender(settings.mail), clock, settings))
    if express is not None:
        from handlers.express.channel import ExpressChannel  # pybotx only when eXpress is configured
        channels.register(ExpressChannel(express, clock, settings))
    if max_bot is not None:
        from handlers.max.channel import MaxChannel  # maxapi is loaded only when MAX is configured

        channels.register(MaxChannel(max_bot, clock, settings))
    return channels


def build_express(settings: Settings, dp: Dispatcher, clock: Clock):
    """The eXpress bot (pybotx), when eXpress is configured: its endpoints go on the web app, its channel
    into the outbox. Imported here, and only then: a desk without eXpress never loads pybotx."""
    if settings.express is None:
        return None
    from handlers.chatroom import ChatRoom
    from handlers.express.server import ExpressBot
    hosts = ", ".join(account.cts_url for account in settings.express.accounts)
    log.info("eXpress: bot for %s; the CTS servers call %s/express/", hosts, settings.web_public_url)
    return ExpressBot(settings.express, ChatRoom(dp["desk"]), settings.default_lang, clock)


class Background:
    """The scheduler's tick and the outbox courier, running beside the update handling."""

    def __init__(self, bot: Bot, dp: Dispatcher, settings: Settings, clock: Clock, express=None,
                 max_bot=None) -> None:
        self.heartbeat = Heartbeat()
        self.leader = leader_for(settings.database_url)
        self.tick = Tick(settings, clock, dp["desk"].sla, self.heartbeat, self.leader)
        self.ticker = Ticker(self.tick.run, settings.scheduler_tick)
        self.courier = Courier(build_channels(bot, settings, clock, express=express, max_bot=max_bot), clock,
                               settings)
        self.stopping = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self, sole_instance: bool) -> None:
        self.ticker.start()
        self.task = asyncio.create_task(self.courier.run(self.stopping, sole_instance=sole_instance),
                                        name="outbox")

    async def stop(self) -> None:
        await self.ticker.stop()  # no new tick starts now; the one in hand finishes
        self.stopping.set()
        if self.task is not None:
            await self.task
        await self.leader.close()


# Lanes handled at once. More only lengthen the queue for the database (one SQLite connection, a small
# PostgreSQL pool) in front of the scheduler's tick and the outbox, whose pings must not wait.
LANES = 8


Key = tuple[str, int]


def keys_of(update: Update) -> list[Key]:
    """The chat and the person an update belongs to (the update itself when it has neither)."""
    try:
        event = update.event
    except LookupError:  # a kind of update this aiogram does not know: a lane of its own
        event = None
    message = event if isinstance(event, Message) else getattr(event, "message", None)
    chat = getattr(message, "chat", None)
    user = getattr(event, "from_user", None)
    mine: list[Key] = [("chat", chat.id)] if chat is not None else []
    sender_chat = getattr(message, "sender_chat", None) if isinstance(event, Message) else None
    if sender_chat is not None:  # an anonymous admin or a channel: one shared bot account writes for all of them
        mine.append(("chat", sender_chat.id))
    elif user is not None:
        mine.append(("user", user.id))
    return mine or [("update", update.update_id)]


def lanes_of(updates: list[Update]) -> list[list[Update]]:
    """Split a batch into lanes handled side by side: updates that share a chat or a person stay in one
    lane, in Telegram's order (a lead's /customer_add in private comes before their /bind in the group)."""
    parent: dict[Key, Key] = {}

    def root(key: Key) -> Key:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    firsts = []
    for update in updates:
        mine = keys_of(update)
        for other in mine[1:]:
            parent[root(other)] = root(mine[0])
        firsts.append(mine[0])
    lanes: dict[Key, list[Update]] = {}
    for update, key in zip(updates, firsts, strict=True):
        lanes.setdefault(root(key), []).append(update)
    return list(lanes.values())


def payload_of(update: Update) -> dict:
    """The update as Telegram sent it (the fields it had, under Telegram's names): what is parked."""
    return update.model_dump(mode="json", exclude_unset=True, by_alias=True)


async def fetch_updates(bot: Bot, offset: int | None, timeout: int, allowed: list[str], parking: Parking,
                        known: frozenset[int] = frozenset()) -> tuple[list[Update], list[int]]:
    """One `getUpdates`: the updates it could read, and the ids of the whole batch (to confirm it).
    `known`: ids taken already (sent again while an older one is in hand), not parked a second time.

    When aiogram cannot read the batch (Telegram added or changed a field), each update is read on its
    own: the readable ones are handled, the others parked whole — one unreadable update must not kill
    the poller at every start."""
    try:
        updates = await bot.get_updates(offset=offset, timeout=timeout, allowed_updates=allowed)
        return updates, [u.update_id for u in updates]
    except ClientDecodeError as exc:
        raw = exc.data.get("result") if isinstance(exc.data, dict) and exc.data.get("ok") else None
        if not isinstance(raw, list):
            raise
        readable: list[Update] = []
        ids = []
        for item in raw:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int):
                raise  # no id to confirm it by: nothing past it can be taken either
            ids.append(update_id)
            if update_id in known:
                continue
            try:
                readable.append(Update.model_validate(item, context={"bot": bot}))
            except ValidationError as error:
                await parking.park(item, "unparseable", str(error))
        return readable, ids


class Poller:
    """Long polling that never drops an update and never lets one hold the others.

    Updates that share a chat or a person are handled one at a time in Telegram's order (a follow-up
    never overtakes the message that opened its incident), across batches too; unrelated chats are
    handled side by side. A failing update is retried (transient errors) with backoff for at most
    `park_after`, then parked (`domain.parked`); meanwhile the next batches are taken and the other
    chats go on. Telegram is told to forget updates only up to the oldest one still in hand, so an
    update is confirmed only once it was handled or parked: after a crash the rest come again and
    those handled already are skipped (`OnceMiddleware`). Telegram sends at most 100 updates a batch,
    so at most 100 beyond a failing update are taken before it is handled or parked."""

    def __init__(self, bot: Bot, dp: Dispatcher, stopping: asyncio.Event, heartbeat: Heartbeat, clock: Clock,
                 parking: Parking, park_after: float, timeout: int = 25, monotonic=time.monotonic,
                 batch: BatchIntake | None = None) -> None:
        self.bot, self.dp, self.stopping, self.heartbeat, self.clock = bot, dp, stopping, heartbeat, clock
        self.batch = batch  # group commit of a batch's plain customer messages (`handlers.batch_intake`)
        self.parking, self.park_after, self.timeout, self.monotonic = parking, park_after, timeout, monotonic
        self.gate = asyncio.Semaphore(LANES)
        self.max_backoff = 30.0  # seconds between attempts at most
        self.in_hand: set[int] = set()  # taken, not yet handled or parked
        self.finished: set[int] = set()  # handled or parked, but Telegram may send them again
        self.tails: dict[Key, asyncio.Task] = {}  # the last lane of each chat and person

    async def run(self) -> None:
        offset: int | None = None
        allowed = self.dp.resolve_used_update_types()
        failures = 0
        while not self.stopping.is_set():
            # With updates in hand Telegram answers at once (it sends them again): do not wait for new ones.
            known = frozenset(self.in_hand | self.finished)
            fetch = await unless_stopped(fetch_updates(self.bot, offset, 0 if self.in_hand else self.timeout,
                                                       allowed, self.parking, known), self.stopping)
            if fetch is None:
                break
            try:
                batch, ids = fetch.result()
                failures = 0
            except Exception as exc:  # network, Telegram, or the database while parking: all pass
                failures += 1
                delay = min(2 ** failures, 10)  # come back soon after Telegram does
                log.warning("getUpdates failed (%s); again in %ss", str(exc).splitlines()[0][:300], delay)
                await sleep_unless(self.stopping, delay)
                continue
            fresh = [u for u in batch if u.update_id not in self.in_hand and u.update_id not in self.finished]
            for lane in await self._group_commit(lanes_of(fresh)):
                self._start(lane)
            self.finished |= set(ids) - self.in_hand  # handled before, or parked just now
            if ids:
                offset = max(offset or 0, max(ids) + 1)
            if self.in_hand:
                offset = min(self.in_hand)
            self.finished = {i for i in self.finished if offset is None or i >= offset}
            if self.in_hand and not fresh:
                await self._until_progress()
        await asyncio.gather(*set(self.tails.values()))  # each lane stops after the update in hand

    async def _group_commit(self, lanes: list[list[Update]]) -> list[list[Update]]:
        """Store the plain customer messages at the start of the lanes in one transaction; the rest of
        each lane is left to `_start`. A lane behind an update still in hand (its chat's or person's)
        waits its turn there, whole."""
        if self.batch is None or not lanes or self.stopping.is_set():
            return lanes
        free = [i for i, lane in enumerate(lanes)
                if not any(key in self.tails and not self.tails[key].done() for u in lane for key in keys_of(u))]
        try:
            counts = await self.batch.take([lanes[i] for i in free])
        except Exception:  # the database away: the usual way retries each update (and parks it if it lasts)
            log.exception("the batch's messages go the one-by-one way")
            return lanes
        for i, count in zip(free, counts, strict=True):
            lanes[i] = lanes[i][count:]
        return [lane for lane in lanes if lane]

    def _start(self, lane: list[Update]) -> None:
        keys = {key for update in lane for key in keys_of(update)}
        before = {self.tails[key] for key in keys if key in self.tails and not self.tails[key].done()}
        task = asyncio.create_task(self._lane(lane, before))
        self.in_hand.update(u.update_id for u in lane)
        self.tails = {key: tail for key, tail in self.tails.items() if not tail.done()}
        for key in keys:
            self.tails[key] = task

    async def _until_progress(self) -> None:
        """Wait for an update in hand to finish, a stop, or a second (new updates may have come)."""
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({*self.tails.values(), stop}, timeout=1, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()

    async def _lane(self, lane: list[Update], before: set[asyncio.Task]) -> None:
        if before:
            await asyncio.wait(before)  # the same chat's or person's earlier updates come first
        for update in lane:
            if self.stopping.is_set() or not await self.handle(update):
                return  # not confirmed: Telegram sends it again after the restart
            self.in_hand.discard(update.update_id)
            self.finished.add(update.update_id)

    async def handle(self, update: Update) -> bool:
        """Handle one update, retrying while it fails, parking it when it fails for longer than the
        budget (monotonic time: a retry budget, not SLA time); False when a stop came first."""
        first_failure = None
        attempt = 0
        while True:
            try:
                async with self.gate:
                    await self.dp.feed_update(self.bot, update)
                self.heartbeat.update_handled(update.update_id)
                return True
            except Exception as exc:
                self.heartbeat.update_failed(update.update_id, self.clock.now())
                attempt += 1
                now = self.monotonic()
                first_failure = now if first_failure is None else first_failure
                if now - first_failure >= self.park_after and await self._park(update, exc):
                    return True
                delay = min(2 ** attempt, self.max_backoff, max(self.park_after - (now - first_failure), 0.01))
                log.exception("update %s failed (attempt %d); retrying in %.0fs", update.update_id, attempt, delay)
                if await sleep_unless(self.stopping, delay):
                    return False

    async def _park(self, update: Update, exc: Exception) -> bool:
        try:
            await self.parking.park(payload_of(update), "failing", f"{type(exc).__name__}: {exc}")
        except Exception:  # the database is away too: keep retrying, never drop it
            log.exception("update %s could not be parked; retrying it", update.update_id)
            return False
        self.heartbeat.update_handled(update.update_id)
        return True


async def poll(bot: Bot, dp: Dispatcher, stopping: asyncio.Event, heartbeat: Heartbeat, clock: Clock,
               parking: Parking, park_after: float, timeout: int = 25, batch: BatchIntake | None = None) -> None:
    await Poller(bot, dp, stopping, heartbeat, clock, parking, park_after, timeout, batch=batch).run()


def start_mailbox(settings: Settings, clock: Clock) -> tuple[ImapLoop | None, asyncio.Task | None]:
    """The e-mail channel's intake, when e-mail is configured: the IMAP loop in a task of its own."""
    if settings.mail is None:
        return None, None
    from handlers.email.imap import ImapLoop
    from handlers.email.intake import make_deliver, make_on_mail_created, make_on_unreadable

    sla = Sla(settings.policy)
    deliver = make_deliver(settings.mail.address, sla, Windows(settings.thread_window, settings.reopen_window),
                           clock, on_created=make_on_mail_created(settings, sla),
                           reopened=lambda now: pings.reopened_notice(settings, now))
    mailbox = ImapLoop(settings.mail.imap, clock, deliver, settings.mail.max_size, settings.mail.poll,
                       on_unreadable=make_on_unreadable(settings, clock))
    log.info("e-mail: reading %s, sending through %s as %s", settings.mail.imap.shown(), settings.mail.smtp.shown(),
             settings.mail.address)
    return mailbox, asyncio.create_task(mailbox.run(), name="mailbox")


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
        leads = await people.ensure_leads(settings.lead_ids, clock.now())
        if leads.demoted or leads.removed:
            log.info("no longer in LEAD_IDS: back to their former role %s, left the staff %s", leads.demoted,
                     leads.removed)
        if leads.kept:
            log.warning("LEAD_IDS no longer lists %s, but they stay leads: the desk would have no lead. Put a "
                        "lead into LEAD_IDS (or invite one) and restart.", leads.kept)
        # Open incidents follow the policy in force: recomputed once per policy, not at every start.
        policy_key = "policy:" + hashlib.sha256(repr(settings.policy).encode()).hexdigest()
        if not await claims.done(policy_key):
            async with small_cache(settings.database_url):
                changed = await incidents.recompute_deadlines(Sla(settings.policy))
            await claims.mark_done(policy_key, clock.now())
            if changed:
                log.info("the policy changed: %d open incidents got new deadlines", changed)
        bot = build_bot(settings)
        dp = build_dispatcher(settings, clock)
        await identify(bot)
        menus = asyncio.create_task(set_menus(bot, settings, leads.removed), name="menus")
        parking = Parking(settings, clock)
        await parked.release_replaying()
        express = build_express(settings, dp, clock)
        if express is not None:
            await express.startup()
        max_bot = max_handle = max_task = max_aside = None
        if settings.max is not None:
            from handlers.max import wiring  # maxapi is loaded only when MAX is configured

            max_bot = wiring.build_max_bot(settings)
        background = Background(bot, dp, settings, clock, express, max_bot=max_bot)
        dp["desk"].wake_outbox = background.courier.wake.set
        if max_bot is not None:
            max_handle = wiring.make_handle(max_bot, dp["desk"])
            max_aside = wiring.make_on_set_aside(max_bot, dp["desk"])
        background.start(sole_instance=settings.mode == "polling")  # polling: one instance by construction
        mailbox, mail_task = start_mailbox(settings, clock)
        max_webhook = (wiring.webhook(settings, max_handle, clock, max_aside) if max_bot and settings.mode == "webhook"
                       else None)
        runner = web.AppRunner(build_web_app(settings, dp, bot, background.heartbeat, clock, parking,
                                             mailbox=mailbox.health if mailbox else None, express=express,
                                             max_webhook=max_webhook),
                               access_log=None, shutdown_timeout=8)
        await runner.setup()
        await web.TCPSite(runner, settings.web_host, settings.web_port).start()
        log.info("listening on %s:%s (/healthz, /metrics%s%s%s)", settings.web_host, settings.web_port,
                 ", /telegram/webhook" if settings.mode == "webhook" else "", ", /express/" if express else "",
                 ", /max/webhook" if max_webhook else "")
        try:
            if max_bot is not None and settings.mode == "webhook":
                await wiring.subscribe(max_bot, settings)
            elif max_bot is not None:
                max_task = await wiring.start_polling(max_bot, max_handle, clock, stopping, background.heartbeat,
                                                      max_aside)
            if settings.mode == "webhook":
                await bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret,
                                      allowed_updates=dp.resolve_used_update_types(),
                                      max_connections=settings.webhook_connections)
                await stopping.wait()
            else:
                await updates.release_unfinished()
                await bot.delete_webhook(drop_pending_updates=False)
                await poll(bot, dp, stopping, background.heartbeat, clock, parking,
                           settings.park_after.total_seconds(), batch=BatchIntake(dp["desk"], background.heartbeat))
        finally:
            log.info("stopping: finishing the work in hand")
            await runner.cleanup()  # webhook requests in flight finish first
            for task in (menus, mail_task):
                if task is not None:
                    task.cancel()  # the mailbox loop holds no mail in memory: what it took is committed
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if max_task is not None:  # it stops by itself on `stopping`, after the update in hand
                await max_task
            if express is not None:  # the web server is closed: BotX's results can no longer arrive
                await express.stop_waiting()
            await background.stop()
            if express is not None:
                await express.shutdown()
            await bot.session.close()
            if max_bot is not None:
                await max_bot.close_session()
    finally:
        await close_database()
