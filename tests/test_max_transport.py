"""MAX updates in: MAX's own JSON read into what the desk takes in; long polling that moves its cursor only past
handled updates, so a stop or a crash loses nothing and a restart doubles nothing; the webhook refusing a
request without the subscription's secret. Against the MAX stand-in (`tests/max_stub.py`)."""

import asyncio
import json

import pytest
from aiohttp import web

from bot.max_settings import MaxSettings
from domain import attempts, updates
from domain.models import FailedAttempt, ParkedUpdate
from handlers.max.transport import MaxPoller, webhook_route
from handlers.max.updates import Unreadable, read
from handlers.max.wiring import build_max_bot
from tests.clock import FrozenClock
from tests.conftest import free_port
from tests.max_stub import TOKEN, StubMaxAPI, user

CHAT = -70001
IVAN = user(4001, "Иван", "Петров")


@pytest.fixture
async def max_api():
    server = StubMaxAPI()
    await server.start()
    yield server
    await server.stop()


class Settings:
    def __init__(self, url: str) -> None:
        self.max = MaxSettings(TOKEN, url)


def max_bot(max_api):
    return build_max_bot(Settings(max_api.url))


def test_a_message_reads_as_the_desk_keeps_it():
    raw = StubMaxAPI.message(CHAT, IVAN, "Сервер недоступен\nс утра", "mid.a1", reply_to="mid.bot7", attachments=[
        {"type": "file", "payload": {"url": "https://files.max.ru/x", "token": "t"}, "filename": "log.txt",
         "size": 1234},
        {"type": "image", "payload": {"photo_id": 1, "token": "t", "url": "https://i.max.ru/1"}},
        {"type": "inline_keyboard", "payload": {"buttons": []}}])
    update = read(raw)
    assert (update.kind, update.chat, update.dialog, update.sender, update.name) == \
        ("message", str(CHAT), False, "4001", "Иван Петров")
    assert (update.ref, update.reply_to, update.text) == ("mid.a1", "mid.bot7", "Сервер недоступен\nс утра")
    assert update.attachments == [{"kind": "document", "name": "log.txt", "size": "1234"}, {"kind": "photo"}]
    assert update.key == "m:mid.a1" and update.lang == "ru" and update.sent_at is not None


def test_a_button_press_reads_with_its_payload_presser_and_message():
    message = StubMaxAPI.message(CHAT, IVAN, "ack", "mid.bot1")["message"]
    raw = {"update_type": "message_callback", "timestamp": 1_760_000_000_000, "user_locale": "en",
           "callback": {"timestamp": 1_760_000_000_000, "callback_id": "cb-9", "payload": "prio:3:P1", "user": IVAN},
           "message": message}
    update = read(raw)
    assert (update.kind, update.payload, update.sender, update.chat, update.ref, update.callback_id) == \
        ("button", "prio:3:P1", "4001", str(CHAT), "mid.bot1", "cb-9")
    assert update.key == "c:cb-9"


def test_an_update_maxapi_cannot_read_is_unreadable():
    with pytest.raises(Unreadable):
        read({"update_type": "message_created", "timestamp": 1})  # no message
    with pytest.raises(Unreadable):
        read({"update_type": "something_new", "timestamp": 1})


async def _run_until(poller: MaxPoller, stopping: asyncio.Event, done) -> None:
    task = asyncio.create_task(poller.run())
    try:
        for _ in range(600):
            if done():
                break
            await asyncio.sleep(0.05)
        assert done(), "the poller did not get there"
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)


async def test_polling_moves_its_cursor_only_past_handled_updates_and_a_restart_loses_and_doubles_nothing(
        db, max_api):
    clock = FrozenClock()
    for n in range(1, 4):
        max_api.send(CHAT, IVAN, f"message {n}", mid=f"mid.u{n}")
    handled: list[str] = []
    failing = {"mid.u2"}

    async def handle(update):
        if update.ref in failing:
            raise ConnectionError("the database is away")
        handled.append(update.ref)
        return None

    # The second update keeps failing: the first is handled, the process stops while the second is retried.
    stopping = asyncio.Event()
    bot = max_bot(max_api)
    poller = MaxPoller(bot, handle, clock, stopping, timeout=1)
    await _run_until(poller, stopping, lambda: handled == ["mid.u1"])
    assert await updates.cursor("max") is None  # nothing confirmed: the whole batch comes again
    assert [seq for seq, _ in max_api.updates] == [1, 2, 3]

    # Started again, with the database back: the first is not handled twice, the rest are handled in order.
    failing.clear()
    stopping = asyncio.Event()
    poller = MaxPoller(bot, handle, clock, stopping, timeout=1)
    await _run_until(poller, stopping, lambda: len(handled) == 3)
    assert handled == ["mid.u1", "mid.u2", "mid.u3"]
    for _ in range(100):  # the cursor moves after the batch
        if await updates.cursor("max") == 4:
            break
        await asyncio.sleep(0.05)
    assert await updates.cursor("max") == 4

    # A third start asks from the stored cursor: MAX sends nothing old, and a new message is handled once.
    max_api.send(CHAT, IVAN, "message 4", mid="mid.u4")
    stopping = asyncio.Event()
    poller = MaxPoller(bot, handle, clock, stopping, timeout=1)
    await _run_until(poller, stopping, lambda: len(handled) == 4)
    assert handled == ["mid.u1", "mid.u2", "mid.u3", "mid.u4"]
    assert [c.query.get("marker") for c in max_api.calls if c.method == "GET /updates"][-1] in ("4", "5")
    await bot.close_session()


async def test_an_unreadable_update_is_passed_over_and_the_rest_handled(db, max_api):
    max_api.feed({"update_type": "something_new", "timestamp": 1})
    max_api.send(CHAT, IVAN, "after it", mid="mid.after")
    handled = []

    async def handle(update):
        handled.append(update.ref)

    stopping = asyncio.Event()
    bot = max_bot(max_api)
    await _run_until(MaxPoller(bot, handle, FrozenClock(), stopping, timeout=1), stopping, lambda: handled)
    assert handled == ["mid.after"]
    await bot.close_session()


@pytest.fixture
async def webhook(db):
    handled = []

    async def handle(update):
        handled.append(update.ref)

    app = web.Application()
    app.router.add_post("/max/webhook", webhook_route("right-secret", handle, FrozenClock()))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/max/webhook", handled
    await runner.cleanup()


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "right-secret-and-more", "ключ"])
async def test_the_webhook_refuses_a_request_without_the_right_secret(webhook, secret):
    url, handled = webhook
    update = StubMaxAPI.message(CHAT, IVAN, "hello", "mid.w1")
    status, _ = await StubMaxAPI.deliver(update, url, secret)
    assert status == 401 and handled == []
    assert not await updates.handled(updates.channel_key("max", "m:mid.w1"))


async def test_the_webhook_handles_an_update_once_however_often_it_comes(webhook):
    url, handled = webhook
    update = StubMaxAPI.message(CHAT, IVAN, "hello", "mid.w2")
    assert (await StubMaxAPI.deliver(update, url, "right-secret"))[0] == 200
    assert (await StubMaxAPI.deliver(update, url, "right-secret"))[0] == 200
    assert handled == ["mid.w2"]


def test_ledger_keys_of_other_channels_never_meet_telegram_ids():
    keys = {updates.channel_key("max", f"m:mid.{n}") for n in range(2000)}
    assert len(keys) == 2000 and all(key < 0 for key in keys)
    assert updates.channel_key("max", "m:1") != updates.channel_key("express", "m:1")


class Poisoned:
    """A handle that fails on some messages every time, as a value the database refuses would."""

    def __init__(self, *poisoned: str) -> None:
        self.poisoned, self.handled, self.tries = set(poisoned), [], 0

    async def __call__(self, update):
        if update.ref in self.poisoned:
            self.tries += 1
            raise ValueError("the database refused a value")
        self.handled.append(update.ref)


class Told:
    """`on_set_aside` as the transport calls it: what was set aside, in the transaction that kept it."""

    def __init__(self) -> None:
        self.rows = []

    async def __call__(self, row, update):
        self.rows.append((row.id, update.ref if update is not None else None))


async def _cursor_at(position: int) -> None:
    for _ in range(200):
        if await updates.cursor("max") == position:
            return
        await asyncio.sleep(0.05)
    assert await updates.cursor("max") == position


async def test_an_update_that_always_fails_is_set_aside_and_the_ones_after_it_are_taken_in(db, max_api):
    clock = FrozenClock()
    for n in range(1, 4):
        max_api.send(CHAT, IVAN, f"message {n}", mid=f"mid.p{n}")
    handle, told = Poisoned("mid.p2"), Told()
    stopping = asyncio.Event()
    bot = max_bot(max_api)
    poller = MaxPoller(bot, handle, clock, stopping, timeout=1, on_set_aside=told, backoff=0.01)
    await _run_until(poller, stopping, lambda: handle.handled == ["mid.p1", "mid.p3"])
    await _cursor_at(4)
    assert handle.tries == attempts.ATTEMPTS
    [row] = await ParkedUpdate.all()
    assert (row.channel, row.reason, row.chat_id, row.parked_at) == ("max", "failing", CHAT, clock.now())
    assert json.loads(row.payload)["message"]["body"]["text"] == "message 2" and "refused" in row.error
    assert told.rows == [(row.id, "mid.p2")]
    assert await updates.handled(updates.channel_key("max", "m:mid.p2"))
    assert not await FailedAttempt.exists()
    # Delivered again (MAX never got the cursor): neither handled nor kept twice.
    await updates.move_cursor("max", 1, clock.now())
    max_api.read_before, max_api.updates = 1, [(2, StubMaxAPI.message(CHAT, IVAN, "message 2", "mid.p2"))]
    stopping = asyncio.Event()
    poller = MaxPoller(bot, handle, clock, stopping, timeout=1, on_set_aside=told, backoff=0.01)
    await _run_until(poller, stopping, lambda: not max_api.updates)
    assert handle.tries == attempts.ATTEMPTS and await ParkedUpdate.all().count() == 1 and len(told.rows) == 1
    await bot.close_session()


async def test_the_failed_attempts_of_an_update_survive_a_restart(db, max_api):
    clock = FrozenClock()
    max_api.send(CHAT, IVAN, "message 1", mid="mid.r1")
    max_api.send(CHAT, IVAN, "message 2", mid="mid.r2")
    key = updates.channel_key("max", "m:mid.r1")
    for _ in range(attempts.ATTEMPTS - 1):  # the process before this one failed on it, then stopped
        await attempts.failed(key, "ValueError: the database refused a value", clock.now())
    handle, told = Poisoned("mid.r1"), Told()
    stopping = asyncio.Event()
    bot = max_bot(max_api)
    poller = MaxPoller(bot, handle, clock, stopping, timeout=1, on_set_aside=told, backoff=0.01)
    await _run_until(poller, stopping, lambda: handle.handled == ["mid.r2"])
    assert handle.tries == 1 and told.rows and told.rows[0][1] == "mid.r1"
    await bot.close_session()


async def test_an_update_the_reader_chokes_on_is_kept_and_the_ones_after_it_are_taken_in(db, max_api):
    poisoned = StubMaxAPI.message(CHAT, IVAN, "from the far future", "mid.future")
    poisoned["message"]["timestamp"] = poisoned["timestamp"] = 10 ** 18  # no datetime holds it
    max_api.feed(poisoned)
    max_api.send(CHAT, IVAN, "after it", mid="mid.after")
    handle, told = Poisoned(), Told()
    stopping = asyncio.Event()
    bot = max_bot(max_api)
    await _run_until(MaxPoller(bot, handle, FrozenClock(), stopping, timeout=1, on_set_aside=told, backoff=0.01),
                     stopping, lambda: handle.handled)
    assert handle.handled == ["mid.after"]
    [row] = await ParkedUpdate.all()
    assert (row.channel, row.reason, row.chat_id) == ("max", "unparseable", CHAT)
    assert "from the far future" in row.payload and told.rows == [(row.id, None)]
    await bot.close_session()


async def test_the_webhook_answers_a_failing_update_500_until_it_is_set_aside_then_200(db):
    handle, told = Poisoned("mid.wf"), Told()
    app = web.Application()
    app.router.add_post("/max/webhook", webhook_route("right-secret", handle, FrozenClock(), told))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}/max/webhook"
    try:
        update = StubMaxAPI.message(CHAT, IVAN, "hello", "mid.wf")
        statuses = [(await StubMaxAPI.deliver(update, url, "right-secret"))[0] for _ in range(attempts.ATTEMPTS + 1)]
    finally:
        await runner.cleanup()
    assert statuses == [500] * (attempts.ATTEMPTS - 1) + [200, 200]
    assert handle.tries == attempts.ATTEMPTS
    [row] = await ParkedUpdate.all()
    assert (row.channel, row.reason, row.chat_id) == ("max", "failing", CHAT) and len(told.rows) == 1
