"""Resident memory of the running program with 100,000 incidents in the database (run by hand).

    .venv/bin/python bench/memory.py [N]

Fills a fresh SQLite database with N open incidents (their pings not yet due), starts `python -m bot`
against the stub Bot API server, lets it poll and tick for a few seconds, and prints its VmRSS beside
that of the bare aiogram echo bot (bench/echo_bot.py) on the same stub: the framework's own share.
"""

import asyncio
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import close_database, open_database  # noqa: E402
from domain.models import Conversation, Customer, Incident  # noqa: E402
from domain.policy import load_policy  # noqa: E402
from domain.sla import Sla  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.stub_api import TOKEN, StubBotAPI  # noqa: E402


async def fill(url: str, size: int) -> None:
    await open_database(url)
    now = datetime.now(UTC)
    customer = await Customer.create(code="MEM", name="Memory", plan="premium", created_at=now)
    chat = await Conversation.create(channel="telegram", ref="-100", customer=customer, kind="supergroup",
                                     bound_at=now)
    deadline = Sla(load_policy(None)).deadline("premium", "P3", now)  # as the bot computes it
    batch = []
    for n in range(1, size + 1):
        batch.append(Incident(key=f"MEM-{n}", number=n, customer=customer, plan="premium", conversation=chat,
                              title="problem", priority="P3", opened_at=now, deadline=deadline,
                              next_due_at=now + timedelta(days=30), last_activity_at=now))
        if len(batch) == 5000:
            await Incident.bulk_create(batch)
            batch = []
    if batch:
        await Incident.bulk_create(batch)
    await close_database()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main(size: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{folder}/memory.sqlite3"
        await fill(url, size)
        stub = StubBotAPI()
        await stub.start()
        env = {**os.environ, "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": stub.url, "DATABASE_URL": url,
               "LEAD_IDS": "1", "WEB_PORT": str(free_port()), "SCHEDULER_TICK": "1s", "LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(ROOT)}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", env=env, cwd=folder)
        await stub.wait_for("getUpdates", timeout=60)
        await asyncio.sleep(5)  # a few ticks and polls
        desk = rss_mb(proc.pid)
        proc.terminate()
        await proc.wait()
        echo = await subprocess_rss([str(ROOT / "bench" / "echo_bot.py")], env, stub)
        print(f"resident memory with {size:,} open incidents: {desk:.1f} MB "
              f"(bare aiogram echo bot: {echo:.1f} MB; +{desk - echo:.1f})")
        await stub.stop()


async def subprocess_rss(args: list[str], env: dict[str, str], stub: StubBotAPI) -> float:
    stub.calls.clear()
    proc = await asyncio.create_subprocess_exec(sys.executable, *args, env=env)
    await stub.wait_for("getUpdates", timeout=60)
    await asyncio.sleep(5)
    rss = rss_mb(proc.pid)
    proc.terminate()
    await proc.wait()
    return rss


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
