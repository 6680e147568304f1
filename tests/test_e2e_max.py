"""End to end with MAX: the real `python -m bot`, the MAX stand-in (`tests/max_stub.py`, MAX's own JSON) and the
Telegram stand-in. A lead's `/invite ACME max` code binds a MAX group chat; a customer's message there opens
ACME-1, is acknowledged in the chat with the priority buttons and pings the on-call engineer in Telegram; the
engineer answers with /reply and the customer reads it in MAX; a chat bound to nobody goes to the unbound
inbox; the process killed in the middle of a burst and started again has lost no message and doubled none. In
webhook mode, a request without MAX's secret is refused."""

import asyncio
import re
import signal
import time

import pytest

from bot.db import close_database, open_database
from domain.models import Conversation, Incident, IncidentMessage, Outbox, UnboundMessage
from tests.conftest import make_env
from tests.max_stub import TOKEN, StubMaxAPI, user
from tests.people import ENGINEER, LEAD, engineer, lead
from tests.process import BotProcess

CHAT = -71001
STRANGERS = -71002
IVAN = user(4101, "Иван", "Петров")
PETR = user(4102, "Пётр")
BURST = 20


@pytest.fixture
async def max_api():
    server = StubMaxAPI()
    await server.start()
    yield server
    await server.stop()


def acks(max_api) -> set[str]:
    """The incidents acknowledged in the chat (an acknowledgement names its key and carries P1–P4)."""
    return {re.search(r"ACME-\d+", c.body["text"])[0] for c in max_api.sent()
            if c.query.get("chat_id") == str(CHAT) and c.body.get("attachments") and "ACME-" in c.body["text"]}


async def until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition was not met in time"
        await asyncio.sleep(0.1)


def poisoned(chat: int) -> dict:
    """A message no datetime can hold the moment of: the reader chokes on it."""
    update = StubMaxAPI.message(chat, PETR, "from the far future", f"mid.future{chat}")
    update["message"]["timestamp"] = update["timestamp"] = 10 ** 18
    return update


async def test_a_max_chat_is_bound_taken_in_acknowledged_answered_and_survives_a_kill(stub, max_api, tmp_path,
                                                                                     database_url):
    env = make_env(stub.url, database_url, SCHEDULER_TICK="1s", MAX_BOT_TOKEN=TOKEN, MAX_API_URL=max_api.url)
    proc = BotProcess(env, tmp_path)
    await proc.start()
    try:
        await stub.wait_for("getUpdates", timeout=120)  # a guard against a hang: a loaded machine starts slowly
        await max_api.wait_for("GET /updates", timeout=120)
        await stub.send(LEAD, lead, "/customer_add ACME premium Acme")
        await stub.send(LEAD, lead, "/staff_invite engineer")
        invite = (await stub.wait_text(LEAD, "?start="))["text"]
        await stub.send(ENGINEER, engineer, "/start " + re.search(r"\?start=(\S+)", invite).group(1))
        await stub.wait_text(ENGINEER, "Your role")
        await stub.send(LEAD, lead, "/rotation day daily @eng_boris")
        await stub.send(LEAD, lead, "/rotation night daily @eng_boris")
        await stub.wait_text(LEAD, "Shift night")

        # The lead makes a MAX code; a member of the customer's MAX chat sends it there: the chat is bound.
        await stub.send(LEAD, lead, "/invite ACME max")
        code = (await stub.wait_text(LEAD, "Code for ACME"))["text"].splitlines()[1].strip()
        max_api.titles[CHAT] = "Acme · поддержка"
        max_api.send(CHAT, IVAN, code)
        await max_api.wait_sent(CHAT, "ACME")

        # A customer's message opens ACME-1: acknowledged in the chat (a reply with P1–P4), the engineer pinged.
        mark = stub.mark()
        max_api.send(CHAT, IVAN, "Сервер недоступен, никто не может войти", mid="mid.problem")
        ack = await max_api.wait_sent(CHAT, "ACME-1")
        assert ack.body["link"] == {"type": "reply", "mid": "mid.problem"}
        buttons = [b for line in ack.body["attachments"][0]["payload"]["buttons"] for b in line]
        assert len(buttons) == 4 and all(b["type"] == "callback" for b in buttons)
        ping = (await stub.wait_for("sendMessage", lambda p: p.get("text", "").startswith("🆕 ACME-1"), since=mark,
                                    timeout=60))[0]
        assert int(ping.params["chat_id"]) == ENGINEER and "никто не может войти" in ping.params["text"]

        # The customer presses P1: the chat hears the new priority.
        max_api.press(StubMaxAPI.message_of(ack), IVAN, buttons[0]["payload"])
        await max_api.wait_sent(CHAT, "P1")
        await max_api.wait_for("POST /answers")

        # The engineer answers from Telegram; the customer reads it in MAX.
        await stub.send(ENGINEER, engineer, "/reply ACME-1 Перезапустите, пожалуйста, службу входа.")
        await stub.wait_text(ENGINEER, "ACME-1: your answer goes to the customer")
        answer = await max_api.wait_sent(CHAT, "Перезапустите, пожалуйста, службу входа.")
        # The customer's reply to the answer joins ACME-1.
        max_api.send(CHAT, IVAN, "Помогло, спасибо", mid="mid.thanks",
                     reply_to=StubMaxAPI.message_of(answer)["body"]["mid"])

        # An update the desk cannot take in is set aside, the leads told; the ones after it are taken in.
        max_api.feed(poisoned(CHAT))
        await stub.wait_text(LEAD, "set aside")

        # A chat bound to nobody: its message waits in the unbound inbox, and the chat is told once.
        max_api.send(STRANGERS, PETR, "Здравствуйте, у нас не работает вход", mid="mid.stranger")
        await max_api.wait_sent(STRANGERS, "")
        await stub.send(LEAD, lead, "/unbound")
        await stub.wait_text(LEAD, "не работает вход")

        # A burst of messages; the process is killed as soon as some of it is taken, then started again.
        for n in range(BURST):
            max_api.send(CHAT, IVAN, f"/new Проблема {n}", mid=f"mid.burst{n}")
        await until(lambda: len(acks(max_api)) >= 3)
        await proc.stop(signal.SIGKILL)
        await proc.start()
        await until(lambda: not max_api.updates, timeout=120)  # every update was confirmed
        await until(lambda: len(acks(max_api)) >= BURST + 1, timeout=120)
        assert await proc.stop() == 0
    finally:
        if proc.proc and proc.proc.returncode is None:
            await proc.stop(signal.SIGKILL)

    await open_database(database_url, apply_migrations=False)
    try:
        assert (await Conversation.get(channel="max", ref=str(CHAT))).title == "Acme · поддержка"
        first = await Incident.get(key="ACME-1")
        assert first.priority == "P1" and first.responded_at is not None and first.responded_by == ENGINEER
        assert await IncidentMessage.filter(incident=first, ref="mid.thanks", source="customer").exists()
        keys = await Incident.all().order_by("number").values_list("key", flat=True)
        assert keys == [f"ACME-{n}" for n in range(1, BURST + 2)]  # each message of the burst opened one, once
        refs = await IncidentMessage.filter(source="customer").values_list("ref", flat=True)
        assert len(refs) == len(set(refs)) == BURST + 2
        owed = await Outbox.filter(kind="ack", channel="max").count()
        assert owed == BURST + 1  # one acknowledgement each, none doubled by the restart
        assert await UnboundMessage.filter(ref="mid.stranger").count() == 1
    finally:
        await close_database()


async def test_in_webhook_mode_max_is_subscribed_and_a_request_without_the_secret_is_refused(stub, max_api, tmp_path,
                                                                                            database_url):
    env = make_env(stub.url, database_url, MODE="webhook", WEBHOOK_URL="https://desk.example/telegram/webhook",
                   WEBHOOK_SECRET="tg-secret", MAX_BOT_TOKEN=TOKEN, MAX_API_URL=max_api.url,
                   MAX_WEBHOOK_URL="https://desk.example/max/webhook", MAX_WEBHOOK_SECRET="max-secret-1")
    proc = BotProcess(env, tmp_path)
    await proc.start()
    url = f"http://127.0.0.1:{env['WEB_PORT']}/max/webhook"
    try:
        await max_api.wait_for("POST /subscriptions", timeout=120)
        assert max_api.subscriptions[0]["url"] == "https://desk.example/max/webhook"
        assert max_api.subscriptions[0]["secret"] == "max-secret-1"
        update = StubMaxAPI.message(STRANGERS, PETR, "Здравствуйте", "mid.hook1")
        for secret in (None, "wrong-secret"):
            status, _ = await StubMaxAPI.deliver(update, url, secret)
            assert status == 401
        status, _ = await StubMaxAPI.deliver(update, url, "max-secret-1")
        assert status == 200
        await max_api.wait_sent(STRANGERS, "")  # the unbound chat is told it is not connected yet
        # One it cannot take in is kept, the leads told, and answered 200 (MAX would retry it for hours);
        # a press on a message deleted meanwhile is answered.
        assert (await StubMaxAPI.deliver(poisoned(STRANGERS), url, "max-secret-1"))[0] == 200
        await stub.wait_text(LEAD, "set aside")
        gone = {"update_type": "message_callback", "timestamp": 1_760_000_000_000, "user_locale": "en",
                "callback": {"timestamp": 1_760_000_000_000, "callback_id": "cb-gone", "payload": "dd:prio:1:P1",
                             "user": PETR}}
        assert (await StubMaxAPI.deliver(gone, url, "max-secret-1"))[0] == 200
        answer = await max_api.wait_for("POST /answers")
        assert answer.query == {"callback_id": "cb-gone"} and "gone" in answer.body["notification"]
        assert await proc.stop() == 0
    finally:
        if proc.proc and proc.proc.returncode is None:
            await proc.stop(signal.SIGKILL)
    await open_database(database_url, apply_migrations=False)
    try:
        assert await UnboundMessage.filter(ref="mid.hook1").count() == 1
    finally:
        await close_database()
