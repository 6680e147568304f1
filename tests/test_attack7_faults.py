"""Attack on the group commit with the real process: SIGKILL while a burst of people writing for the first time
is taken in, each chat without an incident yet (`tests/test_faults_batch.py` covers known customers with open
incidents only). The batches remember the newcomers with multi-row inserts (`people.first_seen`) and open the
incidents with one counter update per customer: after the restart nothing may be lost, doubled or skipped."""

import asyncio
import time

from tests import databases
from tests.stub_api import SERVER_ERROR, StubBotAPI
from tests.test_faults import GROUPS, acks, set_up_customer, start, stored
from tests.test_faults_batch import kill_when_writing

BURST = 400  # twenty newcomers in each of twenty chats: several batches of up to 100


def newcomer(n: int) -> dict:
    return StubBotAPI.user(70_000 + n, f"newbie_{n}", lang="ru" if n % 2 else "en")


async def test_sigkill_while_newcomers_open_incidents_loses_doubles_and_skips_nothing(stub, tmp_path, database_url):
    # Held: every message once, one incident per chat numbered 1…20 (no gap, no repeat), one acknowledgement
    # each, every newcomer once with their Telegram identity, every update once in the ledger.
    proc = await start(stub, tmp_path / "first", database_url)
    await set_up_customer(stub, GROUPS)
    # The set-up confirmed to Telegram first: a backlog that starts with the lead's /bind in every group is one
    # lane (the lead is in all of them), which goes one by one whole, the burst behind it too (see the report).
    await stub.wait_for("getUpdates", lambda p: int(p.get("offset") or 0) > 1 + len(GROUPS), timeout=30)
    stub.faults["sendMessage"] = [SERVER_ERROR] * 10_000  # acknowledgements owed, none accepted before the kill

    await stub.hold(True)
    for n in range(BURST):
        await stub.send(GROUPS[n % len(GROUPS)], newcomer(n), f"message {n}: nothing works")
    killer = asyncio.create_task(kill_when_writing(proc, database_url, time.monotonic() + 60))
    await stub.hold(False)
    caught = await killer
    await proc.proc.wait()
    assert caught, "no write transaction was seen open during the burst"
    assert (await stored(database_url))[0] < BURST, "the kill should land before the burst is stored"
    stub.faults["sendMessage"] = []
    restarted = await start(stub, tmp_path / "second", database_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (await stored(database_url))[0] < BURST:
        await asyncio.sleep(0.2)
    await stub.wait_for("sendMessage", lambda p: "is registered" in p.get("text", ""), count=len(GROUPS), timeout=60)
    await asyncio.sleep(2)  # time for a duplicate to show up
    assert await restarted.stop() == 0
    assert await stored(database_url) == (BURST, BURST, len(GROUPS))
    numbers = await databases.fetch(database_url, "SELECT number FROM incident ORDER BY number")
    assert [n for (n,) in numbers] == list(range(1, len(GROUPS) + 1))
    assert sorted(acks(stub).values()) == [1] * len(GROUPS)
    ids = [70_000 + n for n in range(BURST)]
    people = await databases.fetch(database_url, f"SELECT count(*) FROM person WHERE id >= {ids[0]} AND id <= {ids[-1]}")
    identities = await databases.fetch(database_url, "SELECT count(*), count(DISTINCT person_id) FROM identity WHERE "
                                       f"channel = 'telegram' AND person_id >= {ids[0]} AND person_id <= {ids[-1]}")
    assert people == [(BURST,)] and identities == [(BURST, BURST)]
    authors = await databases.fetch(database_url, "SELECT count(DISTINCT author_id) FROM incident_message WHERE "
                                    "source = 'customer'")
    assert authors == [(BURST,)]
    ledger = await databases.fetch(database_url, "SELECT count(*), count(DISTINCT update_id) FROM processed_update "
                                                 "WHERE state = 'done'")
    total = 1 + len(GROUPS) + BURST  # /customer_add, the binds, the burst
    assert ledger == [(total, total)]
    logs = proc.log() + restarted.log()
    trouble = [line for line in logs.splitlines() if "one-by-one" in line or "Error" in line or "Traceback" in line]
    assert not trouble, trouble[:5]
    assert "(a batch of" in logs  # the burst really went through the group commit

