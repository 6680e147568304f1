"""Two real instances behind a webhook that Telegram reaches over many connections at once.

Telegram delivers concurrently when the webhook allows more than one connection (and when it retries a
slow answer): 16 connections, alternating between the two instances, carry 300 messages written in 10
chats. Each chat must get exactly one incident and one acknowledgement, keys stay gap-free, and no
update is handled twice: two instances must not both find no open incident and both open one."""

import asyncio
import itertools
import re
from datetime import UTC, datetime

import aiohttp
import pytest

from tests import databases
from tests.conftest import free_port, make_env
from tests.people import LEAD, lead
from tests.process import STARTED_WITHIN, BotProcess
from tests.stub_api import StubBotAPI

pytestmark = pytest.mark.skipif(not databases.on_postgres(), reason="several instances need PostgreSQL")
SECRET = "concurrent-instances-secret"
CHATS = [-1007000 - n for n in range(10)]
MESSAGES = 300
CONNECTIONS = 16


def update(update_id: int, chat: int, user: dict, text: str, message_id: int | None = None) -> dict:
    body = {"update_id": update_id,
            "message": {"message_id": message_id or update_id, "date": int(datetime.now(UTC).timestamp()),
                        "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup", "title": "Acme",
                                 "first_name": "x"}, "from": user, "text": text}}
    if text.startswith("/"):
        body["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return body


def writer(chat: int) -> dict:
    return StubBotAPI.user(5000 - chat % 1000, f"writer{-chat}")


async def start_instances(stub: StubBotAPI, folder, database_url: str, count: int, **extra: str) -> tuple[list, list]:
    """`count` instances in webhook mode on one database, each answering /healthz."""
    ports, procs = [], []
    for n in range(count):
        ports.append(free_port())
        (folder / f"instance{n}").mkdir()
        env = make_env(stub.url, database_url, MODE="webhook", WEBHOOK_URL="https://desk.example/telegram/webhook",
                       WEBHOOK_SECRET=SECRET, WEB_PORT=str(ports[-1]), **extra)
        procs.append(BotProcess(env, folder / f"instance{n}"))
        await procs[-1].start()
    await stub.wait_for("setWebhook", timeout=STARTED_WITHIN, count=count)
    async with aiohttp.ClientSession() as session:
        for port in ports:
            for _ in range(600):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
    return ports, procs


async def deliver(session: aiohttp.ClientSession, ports: list[int], bodies: list[dict],
                  connections: int = CONNECTIONS) -> dict[int, int]:
    """As Telegram does with `max_connections`: `connections` requests in flight, the n-th connection to the
    n-th instance in turn; an update answered other than 200 is delivered again (to the next instance).
    Returns how many attempts each update took."""
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    attempts: dict[int, int] = {}

    async def connection(n: int) -> None:
        targets = itertools.cycle(ports[n % len(ports):] + ports[:n % len(ports)])
        while not queue.empty():
            body = queue.get_nowait()
            while True:
                attempts[body["update_id"]] = attempts.get(body["update_id"], 0) + 1
                async with session.post(f"http://127.0.0.1:{next(targets)}/telegram/webhook", json=body,
                                        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                    if response.status == 200:
                        break
                await asyncio.sleep(0.05)

    await asyncio.gather(*(connection(n) for n in range(connections)))
    return attempts


async def bind_chats(session, ports: list[int], stub: StubBotAPI, chats: list[int], first_update: int) -> int:
    """/customer_add ACME and /bind ACME in each chat, one at a time; returns the next free update id."""
    stub.chat(LEAD, "lead")
    n = first_update
    await deliver(session, ports[:1], [update(n, LEAD, lead, "/customer_add ACME warranty Acme")], 1)
    for chat in chats:
        n += 1
        stub.chat(chat, f"Acme {chat}")
        await deliver(session, ports[:1], [update(n, chat, lead, "/bind ACME")], 1)
    return n + 1


async def test_concurrent_deliveries_to_two_instances_open_one_incident_per_chat(stub, tmp_path, database_url):
    ports, procs = await start_instances(stub, tmp_path, database_url, 2)
    # Each instance asks Telegram for its default 40 connections, not the one that used to keep it in order.
    assert {int(c.params["max_connections"]) for c in stub.find("setWebhook")} == {40}
    try:
        async with aiohttp.ClientSession() as session:
            first = await bind_chats(session, ports, stub, CHATS, 1)
            await stub.wait_for("sendMessage", lambda p: "now connected" in p.get("text", ""), count=len(CHATS),
                                timeout=60)
            bodies = [update(first + i, CHATS[i % len(CHATS)], writer(CHATS[i % len(CHATS)]), f"problem {i}: the "
                             "report does not build", message_id=1000 + i) for i in range(MESSAGES)]
            await deliver(session, ports, bodies)
        # Each chat: one acknowledgement, sent once (the outbox paces 20 a minute per group: one each here).
        await stub.wait_for("sendMessage", lambda p: "is registered" in p.get("text", ""), count=len(CHATS),
                            timeout=60)
        await asyncio.sleep(2)  # time for a second acknowledgement to show up, were one owed
    finally:
        for proc in procs:
            assert await proc.stop() == 0
    acks = [m for m in stub.delivered if "is registered" in m["text"]]
    assert sorted(int(m["chat_id"]) for m in acks) == sorted(CHATS)
    rows = await databases.fetch(database_url, "SELECT c.ref, count(*) FROM incident i JOIN conversation c "
                                               "ON c.id = i.conversation_id GROUP BY c.ref")
    assert sorted(int(ref) for ref, count in rows if count == 1) == sorted(CHATS), rows
    numbers = [n for (n,) in await databases.fetch(database_url, "SELECT number FROM incident ORDER BY number")]
    assert numbers == list(range(1, len(CHATS) + 1))  # gap-free
    assert sorted(re.search(r"ACME-(\d+)", m["text"]).group(1) for m in acks) == sorted(str(n) for n in numbers)
    stored = await databases.fetch(database_url, "SELECT ref, count(*) FROM incident_message WHERE source = "
                                                 "'customer' GROUP BY ref")
    assert len(stored) == MESSAGES and {count for _, count in stored} == {1}
    owed = await databases.fetch(database_url, "SELECT count(*) FROM outbox WHERE kind = 'ack'")
    assert owed == [(len(CHATS),)]
    handled = await databases.fetch(database_url, "SELECT state, count(*) FROM processed_update GROUP BY state")
    assert handled == [("done", MESSAGES + len(CHATS) + 1)]
