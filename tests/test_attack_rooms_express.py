"""Hostile tests of the eXpress channel's endpoints: the desk serving several CTS servers (one per customer,
as issue 14 allows), and one customer's CTS server forging requests for another's bot."""

import asyncio
import re
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_express
from bot.settings import load_settings
from bot.web import build_web_app
from domain import people
from domain.channels import Channels
from domain.models import Conversation, Incident, IncidentMessage, Outbox
from handlers.telegram_channel import Pacer, TelegramChannel
from scheduler.courier import Courier
from scheduler.jobs import Heartbeat
from tests.botx_api import StandInBotX, message_payload
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.mail_servers import wait_for
from tests.people import LEAD, lead

BOT_A = "6fa1d2a0-1b2c-4d5e-8f90-a1b2c3d4e5f6"  # customer A's CTS server's bot
BOT_B = "7fa1d2a0-1b2c-4d5e-8f90-a1b2c3d4e5f7"  # customer B's
SECRET_A = "express-secret-key-of-customer-a"
SECRET_B = "express-secret-key-of-customer-b"
CHAT_B = "0bd3c8d6-0000-4000-8000-0000000000b1"
BEA = "b0000000-0000-4000-8000-00000000000b"  # a member of B's chat
MALLORY = "f0000000-0000-4000-8000-00000000000f"  # someone with A's CTS server (and its secret key)


@pytest.fixture
async def two(stub, db):
    cts_a, cts_b = StandInBotX(BOT_A, SECRET_A), StandInBotX(BOT_B, SECRET_B)
    await cts_a.start()
    await cts_b.start()
    settings = load_settings(make_env(stub.url, db, EXPRESS_BOT_ID=f"{BOT_A},{BOT_B}",
                                      EXPRESS_CTS_URL=f"{cts_a.url},{cts_b.url}",
                                      EXPRESS_SECRET_KEY=f"{SECRET_A},{SECRET_B}"))
    clock = FrozenClock()
    await people.ensure_leads(settings.lead_ids, clock.now())
    desk = Desk(stub, settings, clock)
    express = build_express(settings, desk.dp, clock)
    await express.startup()
    client = TestClient(TestServer(build_web_app(settings, desk.dp, desk.bot, Heartbeat(last_tick=clock.now()), clock,
                                                 express=express)))
    await client.start_server()
    cts_a.bot_url = cts_b.bot_url = str(client.make_url("")).rstrip("/")
    await desk.say(LEAD, lead, "/customer_add beta 8x5 Beta LLC")
    await desk.say(LEAD, lead, "/invite BETA express")
    token = re.search(r"^([A-Za-z0-9_-]{16,64})$", desk.last_reply(LEAD), re.MULTILINE)[1]
    status, _ = await cts_b.command(CHAT_B, BEA, token)
    assert status == 202
    await express.wait_answers()
    assert await Conversation.exists(channel="express", ref=f"{BOT_B}:{CHAT_B}", customer__code="BETA")
    status, _ = await cts_b.command(CHAT_B, BEA, "Our VPN is down")  # B's own incident, genuinely
    assert status == 202
    yield desk, express, cts_a, cts_b
    await client.close()
    await express.shutdown()
    await cts_a.stop()
    await cts_b.stop()
    if desk.bot.session._session is not None:
        await desk.bot.session._session.close()


@pytest.mark.parametrize("what", ["message", "priority button"])
async def test_one_cts_server_cannot_speak_for_another_customers_bot(two, what):
    _desk, express, cts_a, _cts_b = two
    incident = await Incident.get(key="BETA-1")
    if what == "message":
        payload = message_payload(BOT_B, CHAT_B, MALLORY, "forged: please wipe our servers, P1", username="Bea")
    else:
        payload = message_payload(BOT_B, CHAT_B, BEA, "/dd", data={"dd": f"dd:prio:{incident.id}:P4"})
    # Signed correctly, but by A's CTS server (issuer A, A's secret key), for B's bot and B's chat.
    status = await cts_a.post("/express/command", payload, token=cts_a.signature())
    await express.wait_answers()
    assert not await IncidentMessage.filter(text__contains="forged").exists()
    assert (await Incident.get(id=incident.id)).priority == incident.priority
    assert status == 401


def express_courier(desk, express) -> Courier:
    """What the desk owes eXpress chats, sent as the running bot sends it (no pacing)."""
    from handlers.express.channel import ExpressChannel

    def fast():
        return Pacer(per_second=float("inf"), private_gap=0, group_gap=0, monotonic=lambda: 0.0)
    return Courier(Channels(TelegramChannel(desk.bot, desk.clock, desk.settings, fast()),
                            ExpressChannel(express, desk.clock, desk.settings, fast())), desk.clock, desk.settings)


async def drain(courier: Courier) -> None:
    while await courier.drain_once():
        pass


@pytest.mark.parametrize("forged", ["delivered", "chat_not_found"])
async def test_one_cts_server_cannot_say_how_another_bots_message_went(two, forged):
    """B's acknowledgement waits for B's result; A's CTS server (validly signed with A's key) posts a result for
    its sync_id first: a "delivered" for a chat that is gone, or a "chat not found" for one that heard it."""
    desk, express, cts_a, cts_b = two
    cts_b.hold_results = True
    mark = len(cts_b.callbacks)
    if forged == "delivered":
        cts_b.gone_chats.add(CHAT_B)  # the truth: B's chat is gone
    sending = asyncio.create_task(drain(express_courier(desk, express)))
    await wait_for(lambda: cts_b.held, timeout=30)
    sync_id = cts_b.held[0]["sync_id"]
    # The acknowledgement's send waits as long as ever; what follows it in the chat (the "connected" answer,
    # whose result stays held) is taken as sent after a moment instead of ANSWER_WAIT's 30 s.
    express.answer_wait = 0.5
    forgery = {"sync_id": sync_id, "status": "ok", "result": {}} if forged == "delivered" else {
        "sync_id": sync_id, "status": "error", "reason": "chat_not_found", "errors": [],
        "error_data": {"group_chat_id": CHAT_B, "error_description": f"Chat with id {CHAT_B} not found"}}
    status = await cts_a.post("/express/notification/callback", forgery, token=cts_a.signature())
    cts_b.release()  # then B's CTS server says how it really went
    await sending
    ack = await Outbox.get(kind="ack", channel="express")
    chat = await Conversation.get(channel="express", ref=f"{BOT_B}:{CHAT_B}")
    if forged == "delivered":
        assert ack.status == "failed" and chat.unreachable_since is not None
    else:
        assert ack.status == "sent" and chat.unreachable_since is None
    assert [status for _result, status in cts_b.callbacks[mark:]] == [202]  # B's own result was taken
    assert status == 401


async def test_a_result_nobody_waits_for_is_answered_and_changes_nothing(two):
    desk, express, cts_a, cts_b = two
    express.results.early_wait = 0.05  # how long an early result waits for its send (5 s in earnest)
    before = [(row.id, row.status) for row in await Outbox.all().order_by("id")]
    for cts in (cts_a, cts_b):
        status = await cts.post("/express/notification/callback", {
            "sync_id": str(uuid.uuid4()), "status": "error", "reason": "chat_not_found", "errors": [],
            "error_data": {"group_chat_id": CHAT_B, "error_description": "gone"}}, token=cts.signature())
        assert status == 202
    assert [(row.id, row.status) for row in await Outbox.all().order_by("id")] == before
    assert (await Conversation.get(channel="express", ref=f"{BOT_B}:{CHAT_B}")).unreachable_since is None
    await drain(express_courier(desk, express))  # and B's acknowledgement still goes out, confirmed by B
    assert (await Outbox.get(kind="ack", channel="express")).status == "sent"
