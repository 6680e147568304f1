"""Two real processes in webhook mode on one PostgreSQL database, fed the same 500 updates and owing
100 pings: every update is handled once, every ping sent once, and when the scheduler's holder is
killed the other instance takes over within one tick."""

import asyncio
import re
import signal
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from tests import databases
from tests.conftest import free_port, make_env
from tests.people import GROUP, LEAD, customer, lead
from tests.process import BotProcess

pytestmark = pytest.mark.skipif(not databases.on_postgres(), reason="several instances need PostgreSQL")
SECRET = "two-instances-secret"
UPDATES = 500
TIMERS = 100


def message(n: int, text: str, chat: int, user: dict) -> dict:
    kind = "private" if chat > 0 else "supergroup"
    body = {"update_id": n, "message": {"message_id": n, "date": int(datetime.now(UTC).timestamp()),
                                        "chat": {"id": chat, "type": kind, "title": "Acme", "first_name": "x"},
                                        "from": user, "text": text}}
    if text.startswith("/"):
        body["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return body


async def post_to_both(session, ports, body):
    async def one(port):
        async with session.post(f"http://127.0.0.1:{port}/telegram/webhook", json=body,
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            return response.status
    return await asyncio.gather(*(one(port) for port in ports))


async def seed_due_timers(url: str, codes: list[str]) -> None:
    """Premium customers, each with a dedicated engineer, each with an incident whose reminder is due now:
    every ping goes to its own chat, so Telegram's one-message-a-second per chat does not pace the test."""
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    past = datetime.now(UTC) - timedelta(seconds=1)
    try:
        for code in codes:
            engineer = 500000 + abs(hash(code)) % 400000
            await connection.execute(
                "INSERT INTO staff (user_id, role, active, added_at, via_config) VALUES ($1, 'engineer', true, $2, false)",
                engineer, past)
            customer_id = await connection.fetchval(
                "INSERT INTO customer (code, name, plan, users, cts, ha, report, contacts, incident_seq, created_at,"
                " engineer_id) VALUES ($1, $1, 'premium', 0, 0, 'none', 'off', '[]', 1, $2, $3) RETURNING id",
                code, past, engineer)
            conversation_id = await connection.fetchval(
                "INSERT INTO conversation (channel, ref, customer_id, title, kind, bound_at)"
                " VALUES ('telegram', $1, $2, $3, 'supergroup', $4) RETURNING id",
                f"-7{customer_id:06d}", customer_id, code, past)  # a group of its own per customer
            await connection.execute(
                "INSERT INTO incident (key, number, customer_id, plan, conversation_id, title, priority, status,"
                " opened_at, deadline, last_activity_at, contract_expired, next_due_at, alert_stage, summary)"
                " VALUES ($1, 1, $2, 'premium', $3, 'seeded', 'P1', 'new', $4, $5, $4, false, $4, 0, '')",
                f"{code}-1", customer_id, conversation_id, past, past + timedelta(minutes=15))
    finally:
        await connection.close()


def once(statuses: list[int]) -> bool:
    """The same update posted to both at once: one handles it (200); the other answers 200 when it finds it
    done, or 503 while the first still has it in hand, so that Telegram would deliver it again."""
    return 200 in statuses and all(status in (200, 503) for status in statuses)


async def test_two_instances_share_the_work(stub, tmp_path, database_url):
    ports = [free_port(), free_port()]
    procs = []
    for i, port in enumerate(ports):
        folder = tmp_path / f"instance{i}"
        folder.mkdir()
        env = make_env(stub.url, database_url, MODE="webhook", WEBHOOK_URL="https://desk.example/telegram/webhook",
                       WEBHOOK_SECRET=SECRET, WEB_PORT=str(port), SCHEDULER_TICK="1s")
        procs.append(BotProcess(env, folder))
    for proc in procs:
        await proc.start()
    await stub.wait_for("setWebhook", timeout=30, count=2)
    async with aiohttp.ClientSession() as session:
        for port in ports:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        stub.chat(GROUP, "Acme")
        stub.messages.setdefault(GROUP, set()).update({2, *range(10, 10 + UPDATES)})  # they exist: replies find them
        # A warranty customer: its 500 incidents owe no pings, so the pings counted are the seeded ones.
        assert once(await post_to_both(session, ports, message(1, "/customer_add ACME warranty Acme", LEAD, lead)))
        assert once(await post_to_both(session, ports, message(2, "/bind ACME", GROUP, lead)))
        await seed_due_timers(database_url, [f"T{n}" for n in range(TIMERS)])

        # The same 500 updates to both instances at once, a few at a time.
        bodies = [message(10 + n, f"/new problem number {n}", GROUP, customer) for n in range(UPDATES)]
        for start in range(0, UPDATES, 10):
            results = await asyncio.gather(*(post_to_both(session, ports, b) for b in bodies[start:start + 10]))
            assert all(once(pair) for pair in results)

    # Every update handled once: 500 incidents, 500 stored messages, one acknowledgement owed for each.
    # (The acknowledgements themselves leave at Telegram's pace, 20 a minute in one group: those sent so
    # far must not repeat.)
    await stub.wait_for("sendMessage", lambda p: p.get("text", "").startswith("⏰ T"), timeout=60, count=TIMERS)
    await asyncio.sleep(3)  # time for any duplicate to show up
    connection = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        assert await connection.fetchval("SELECT count(*) FROM incident WHERE key LIKE 'ACME-%'") == UPDATES
        assert await connection.fetchval("SELECT count(*) FROM incident_message WHERE source = 'customer'") == UPDATES
        assert await connection.fetchval("SELECT count(*) FROM outbox WHERE kind = 'ack'") == UPDATES
    finally:
        await connection.close()
    keys = [re.search(r"ACME-\d+", m["text"]).group(0) for m in stub.delivered if "is registered" in m["text"]]
    assert keys and len(keys) == len(set(keys))
    reminders = [m["text"].split()[1] for m in stub.delivered if m["text"].startswith("⏰ T")]
    assert len(reminders) == TIMERS and len(set(reminders)) == TIMERS

    # Kill the instance that runs the scheduler: the other takes over within one tick.
    holder = next(p for p in procs if "now runs the scheduler's jobs" in p.log())
    other = next(p for p in procs if p is not holder)
    holder.proc.send_signal(signal.SIGKILL)
    await holder.proc.wait()
    mark = stub.mark()
    await seed_due_timers(database_url, ["AFTERKILL"])
    await stub.wait_for("sendMessage", lambda p: p.get("text", "").startswith("⏰ AFTERKILL-1"), since=mark,
                        timeout=5)
    assert "now runs the scheduler's jobs" in other.log()
    assert await other.stop() == 0



async def test_migrations_at_start_take_turns_under_the_lock(stub, tmp_path, database_url):
    """Two instances migrating an empty database: both wait while the lock is held elsewhere, then take
    turns; each migration is applied once and both exit 0."""
    import time

    from bot.db import MIGRATION_LOCK

    url = database_url.replace("postgres://", "postgresql://", 1)
    holder = await asyncpg.connect(url)
    await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    procs = []
    for n in range(2):
        (tmp_path / f"i{n}").mkdir()
        procs.append(BotProcess(make_env(stub.url, database_url), tmp_path / f"i{n}"))
        await procs[-1].start("migrate")
    waiting = 0
    deadline = time.monotonic() + 60
    while waiting < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        waiting = await holder.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                        "AND objid = $1", MIGRATION_LOCK)
    assert waiting == 2, "both instances should be waiting for the migration lock"
    assert await holder.fetchval("SELECT to_regclass('tortoise_migrations')") is None  # nobody went ahead
    await holder.close()
    assert [await asyncio.wait_for(p.proc.wait(), 60) for p in procs] == [0, 0]
    rows = await databases.fetch(database_url, "SELECT name, count(*) FROM tortoise_migrations GROUP BY name")
    assert rows and {count for _, count in rows} == {1}, rows
