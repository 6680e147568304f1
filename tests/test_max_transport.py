"""MAX updates in: MAX's own JSON read into what the desk takes in; long polling that moves its cursor only past
handled updates, so a stop or a crash loses nothing and a restart doubles nothing; the webhook refusing a
request without the subscription's secret. Against the MAX stand-in (`tests/max_stub.py`)."""

import asyncio

import pytest
from aiohttp import web

from bot.max_settings import MaxSettings
from domain import updates
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
