"""End to end with eXpress: the real `python -m bot`, the Telegram stand-in, and a stand-in BotX API
(tests/botx_api.py) that posts eXpress's own JSON to the bot's /express/ endpoints, signed as a CTS server
signs it, and answers the bot's sends with sync_id callbacks.

A lead makes a code in Telegram and a customer sends it in the eXpress group chat: the chat is bound. A
customer's message there opens ACME-1, is acknowledged in the chat with the priority bubbles and pings the
on-call engineer in Telegram; the engineer answers with /reply and the answer appears in the chat. A chat
bound to nobody goes to the unbound inbox; a request with a bad signature is refused and stores nothing;
the process killed right after a burst of messages was accepted, and started again, has lost none."""

import asyncio
import re
import signal

import aiohttp
import pytest

from bot.db import close_database, open_database
from domain.models import Incident, IncidentMessage, UnboundMessage
from tests.botx_api import StandInBotX
from tests.conftest import make_env
from tests.mail_servers import wait_for
from tests.people import ENGINEER, LEAD, engineer, lead
from tests.process import STARTED_WITHIN, BotProcess

BOT_ID = "6fa1d2a0-1b2c-4d5e-8f90-a1b2c3d4e5f6"
SECRET = "a-long-enough-express-secret-key-for-hs256"
CHAT = "0bd3c8d6-0000-4000-8000-000000000001"
STRANGERS = "0bd3c8d6-0000-4000-8000-0000000000ff"
ANNA = "a0000000-0000-4000-8000-00000000000a"
BURST = 12


@pytest.fixture
async def botx():
    server = StandInBotX(BOT_ID, SECRET)
    await server.start()
    yield server
    await server.stop()


async def listening(botx: StandInBotX) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(botx.bot_url + "/healthz") as answer:
            return answer.status in (200, 503)
    except aiohttp.ClientError:
        return False


def bodies(botx: StandInBotX, chat: str) -> list[str]:
    return [m["body"] for m in botx.sent(chat)]


async def test_an_express_chat_end_to_end(stub, botx, tmp_path, database_url):
    env = make_env(stub.url, database_url, SCHEDULER_TICK="1s", EXPRESS_BOT_ID=BOT_ID, EXPRESS_CTS_URL=botx.url,
                   EXPRESS_SECRET_KEY=SECRET)
    botx.bot_url = f"http://127.0.0.1:{env['WEB_PORT']}"
    proc = BotProcess(env, tmp_path)
    await proc.start()
    try:
        await stub.wait_for("getUpdates", timeout=STARTED_WITHIN)
        await wait_for(lambda: listening(botx), timeout=STARTED_WITHIN)
        await stub.send(LEAD, lead, "/customer_add ACME premium Acme")
        await stub.send(LEAD, lead, "/staff_invite engineer")
        invite = (await stub.wait_text(LEAD, "?start=", timeout=60))["text"]
        await stub.send(ENGINEER, engineer, "/start " + re.search(r"\?start=(\S+)", invite).group(1))
        await stub.wait_text(ENGINEER, "Your role", timeout=60)
        await stub.send(LEAD, lead, "/rotation day daily @eng_boris")
        await stub.send(LEAD, lead, "/rotation night daily @eng_boris")
        await stub.wait_text(LEAD, "Shift night", timeout=60)

        # The lead's code, sent by a customer in the eXpress group chat, binds it.
        await stub.send(LEAD, lead, "/invite ACME express")
        code = re.search(r"^([A-Za-z0-9_-]{16,64})$", (await stub.wait_text(LEAD, "Code for ACME", timeout=60))["text"],
                         re.MULTILINE)[1]
        status, _ = await botx.command(CHAT, ANNA, code)
        assert status == 202
        await wait_for(lambda: any(b.startswith("This chat is now connected to support for ACME") for b in
                                   bodies(botx, CHAT)), timeout=60)

        # A chat bound to nobody: kept in the unbound inbox, answered that it is not connected.
        status, _ = await botx.command(STRANGERS, ANNA, "Здравствуйте, у нас всё упало")
        assert status == 202
        await wait_for(lambda: any("not connected to support yet" in b for b in bodies(botx, STRANGERS)), timeout=60)

        # A customer's message opens ACME-1: acknowledged in the chat with the bubbles, the engineer pinged.
        mark = stub.mark()
        status, _ = await botx.command(CHAT, ANNA, "Сервер почты недоступен с утра")
        assert status == 202
        await stub.wait_for("sendMessage", lambda p: int(p["chat_id"]) == ENGINEER
                            and p.get("text", "").startswith("🆕 ACME-1"), since=mark, timeout=60)
        await wait_for(lambda: any("ACME-1" in m["body"] and m["bubbles"] for m in botx.sent(CHAT)), timeout=60)

        # A request with a bad signature: refused, nothing stored.
        status, _ = await botx.command(CHAT, ANNA, "подделка", token=botx.signature(secret_key="not-the-key"))
        assert status == 401

        # The engineer answers with /reply: the customer sees it in the chat.
        await stub.send(ENGINEER, engineer, "/reply ACME-1 Перезапустили почтовый сервис, проверьте")
        await stub.wait_text(ENGINEER, "ACME-1: your answer goes to the customer", timeout=60)
        await wait_for(lambda: any("Перезапустили почтовый сервис, проверьте" in b for b in bodies(botx, CHAT)),
                       timeout=60)

        # A burst of new problems; the process is killed as soon as the last one was accepted, then started.
        for number in range(BURST):
            status, _ = await botx.command(CHAT, ANNA, f"/new Проблема {number}")
            assert status == 202  # accepted only once it is stored
        await proc.stop(signal.SIGKILL)
        await proc.start()
        await stub.wait_for("getUpdates", since=stub.mark(), timeout=STARTED_WITHIN)
        keys = [f"ACME-{n}" for n in range(2, BURST + 2)]
        await wait_for(lambda: all(any(key in m["body"] and m["bubbles"] for m in botx.sent(CHAT)) for key in keys),
                       timeout=90)
        assert await proc.stop() == 0
    finally:
        if proc.proc and proc.proc.returncode is None:
            await proc.stop(signal.SIGKILL)
    await asyncio.sleep(0)

    await open_database(database_url, apply_migrations=False)
    try:
        assert await Incident.all().order_by("number").values_list("key", flat=True) == ["ACME-1", *keys]
        assert not await IncidentMessage.filter(text__contains="подделка").exists()
        answered = await Incident.get(key="ACME-1")
        assert answered.responded_by == ENGINEER
        assert await UnboundMessage.all().values_list("text", flat=True) == ["Здравствуйте, у нас всё упало"]
    finally:
        await close_database()
