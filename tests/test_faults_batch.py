"""SIGKILL while a batch of customer messages is being written (group commit, `handlers.batch_intake`):
after the restart every message is stored exactly once, every chat has one incident and one
acknowledgement, and the ledger holds each update once. The batch is committed whole or not at all,
and confirmed to Telegram only after its commit."""

import asyncio
import signal
import sqlite3
import time

import asyncpg

from tests import databases
from tests.stub_api import SERVER_ERROR, StubBotAPI
from tests.test_faults import GROUPS, acks, set_up_customer, start, stored

BURST = 600  # thirty messages in each of twenty chats: several batches of up to 100


def writer(chat: int) -> dict:
    return StubBotAPI.user(6000 - chat % 1000, f"writer{-chat}")


async def writing(database_url: str) -> bool:
    """A write transaction is open right now: on PostgreSQL an intake transaction holds its conversation's
    turn (`domain.serial`); on SQLite someone holds the write lock (a probe with no patience is refused)."""
    if database_url.startswith("sqlite://"):
        probe = sqlite3.connect(database_url.removeprefix("sqlite://").split("?")[0], timeout=0,
                                isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    connection = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        return await connection.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                         "AND classid = $1", 0x436F6E76) > 0
    finally:
        await connection.close()


async def kill_when_writing(proc, database_url: str, deadline: float) -> bool:
    """SIGKILL the bot the moment a write transaction of its is seen open; False if none was by `deadline`."""
    while time.monotonic() < deadline:
        if await writing(database_url):
            proc.proc.send_signal(signal.SIGKILL)
            return True
        await asyncio.sleep(0)
    return False


async def test_sigkill_while_a_batch_is_written_loses_and_doubles_nothing(stub, tmp_path, database_url):
    proc = await start(stub, tmp_path / "first", database_url)
    await set_up_customer(stub, GROUPS)
    # Telegram refuses the acknowledgements until after the kill: owed, none accepted.
    stub.faults["sendMessage"] = [SERVER_ERROR] * 10_000
    # Each chat's customer is known to the desk before the burst (their first message opened the incident),
    # so the burst goes through the group commit.
    for chat in GROUPS:
        await stub.send(chat, writer(chat), "first: the export fails")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (await stored(database_url))[0] < len(GROUPS):
        await asyncio.sleep(0.05)
    assert (await stored(database_url))[0] == len(GROUPS)

    async def kill_while_writing() -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "(a batch of" not in proc.log():
            await asyncio.sleep(0.01)  # a first batch committed whole: the kill then lands in a later one
        return await kill_when_writing(proc, database_url, deadline)

    # Kill the moment a transaction is seen open once the burst is coming in: in the middle of a batch's commit.
    # The burst is queued whole, then handed out in batches of up to 100, as after a restart or an outage.
    await stub.hold(True)
    for n in range(BURST):
        await stub.send(GROUPS[n % len(GROUPS)], writer(GROUPS[n % len(GROUPS)]), f"message {n}: всё ещё не работает")
    killer = asyncio.create_task(kill_while_writing())
    await stub.hold(False)
    caught = await killer
    await proc.proc.wait()
    assert caught, "no write transaction was seen open during the burst"
    at_kill = (await stored(database_url))[0]
    assert len(GROUPS) <= at_kill < len(GROUPS) + BURST, "the kill should land in the middle of the burst"
    stub.faults["sendMessage"] = []
    restarted = await start(stub, tmp_path / "second", database_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (await stored(database_url))[0] < len(GROUPS) + BURST:
        await asyncio.sleep(0.2)
    await stub.wait_for("sendMessage", lambda p: "is registered" in p.get("text", ""), count=len(GROUPS), timeout=60)
    await asyncio.sleep(2)  # time for a duplicate to show up
    assert await restarted.stop() == 0
    assert await stored(database_url) == (len(GROUPS) + BURST, len(GROUPS) + BURST, len(GROUPS))
    assert sorted(acks(stub).values()) == [1] * len(GROUPS)
    ledger = await databases.fetch(database_url, "SELECT count(*), count(DISTINCT update_id) FROM processed_update "
                                                 "WHERE state = 'done'")
    total = 1 + len(GROUPS) * 2 + BURST  # /customer_add, the binds, the first messages, the burst
    assert ledger == [(total, total)]
    assert "(a batch of" in proc.log()  # the burst really went through the group commit
    assert "goes the one-by-one way" not in restarted.log() + proc.log()
