"""Intake throughput and latency of the real program against the stub Bot API server (run by hand).

    .venv/bin/python bench/intake.py [N]                       # SQLite
    BENCH_DATABASE_URL=postgres://…/db .venv/bin/python bench/intake.py [N]

1. Throughput: N customer messages (N/20 chats, 20 each) queued at once; counted until every message is
   stored (the first of each chat acknowledged, the rest follow-ups). The same N messages to a bare
   aiogram echo bot on the same stub, counted until every echo arrived. Messages per second and ratio.
2. Latency at 25 and at 100 messages per second for 10 s: each message opens an incident in its own chat;
   time from the update being offered to the acknowledgement reaching the stub (p50, p99). 25 is under
   Telegram's ~30 messages a second per bot, which the outbox keeps to; 100 is above it.
3. Start-up: from process start to the first getUpdates, of DutyDesk (restarted on the database it left,
   and its first start, which migrates an empty database) and of the echo bot.
"""

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.databases import fetch  # noqa: E402
from tests.stub_api import TOKEN, StubBotAPI  # noqa: E402

LEAD = 1001
lead = StubBotAPI.user(LEAD, "lead")


def client(chat: int) -> dict:
    """Each chat's own customer: as in life, different people write in different customer chats."""
    return StubBotAPI.user(3000 - chat, f"client{-chat}")


async def spawn(args: list[str], env: dict[str, str], folder: Path) -> asyncio.subprocess.Process:
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    log = open(folder / "process.log", "ab")  # noqa: SIM115
    return await asyncio.create_subprocess_exec(sys.executable, *args, env=full, cwd=folder, stdout=log, stderr=log)


async def bot_env(stub: StubBotAPI, folder: Path) -> tuple[dict[str, str], str]:
    database = os.environ.get("BENCH_DATABASE_URL") or f"sqlite://{folder}/bench.sqlite3"
    return {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": stub.url, "DATABASE_URL": database, "LEAD_IDS": str(LEAD),
            "DEFAULT_LANG": "en", "WEB_PORT": str(free_port()), "LOG_LEVEL": "WARNING"}, database


async def stored(database: str) -> int:
    return (await fetch(database, "SELECT count(*) FROM incident_message WHERE source='customer'"))[0][0]


async def dutydesk_throughput(n: int, folder: Path) -> tuple[float, float, float]:
    stub = StubBotAPI()
    await stub.start()
    env, database = await bot_env(stub, folder)
    started = time.monotonic()
    proc = await spawn(["-m", "bot"], env, folder)
    await stub.wait_for("getUpdates", timeout=60)
    startup = time.monotonic() - started
    chats = [-1001000000 - i for i in range(max(1, n // 20))]
    await stub.send(LEAD, lead, "/customer_add BENCH 24x7 Bench")
    for chat in chats:
        stub.chat(chat, f"Bench {chat}")
        await stub.send(chat, lead, "/bind BENCH")
    await stub.wait_for("sendMessage", lambda p: "now connected" in p.get("text", ""), count=len(chats), timeout=120)
    messages = [stub.make_message(chats[i % len(chats)], client(chats[i % len(chats)]),
                                  f"message {i}: отчёт не строится") for i in range(n)]
    begin = time.monotonic()
    for message in messages:
        await stub.feed({"message": message})
    while await stored(database) < n:
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - begin
    proc.terminate()
    await proc.wait()
    # A restart on the database it left (migrations applied): what an operator's restart or a deploy costs.
    stub.calls.clear()
    started = time.monotonic()
    proc = await spawn(["-m", "bot"], env, folder)
    await stub.wait_for("getUpdates", timeout=60)
    restart = time.monotonic() - started
    proc.terminate()
    await proc.wait()
    await stub.stop()
    return n / elapsed, startup, restart


async def echo_throughput(n: int, folder: Path) -> tuple[float, float]:
    stub = StubBotAPI()
    await stub.start()
    started = time.monotonic()
    proc = await spawn([str(ROOT / "bench" / "echo_bot.py")], {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": stub.url},
                       folder)
    await stub.wait_for("getUpdates", timeout=60)
    startup = time.monotonic() - started
    chats = [-1001000000 - i for i in range(max(1, n // 20))]
    messages = [stub.make_message(chats[i % len(chats)], client(chats[i % len(chats)]), f"message {i}")
                for i in range(n)]
    begin = time.monotonic()
    for message in messages:
        await stub.feed({"message": message})
    await stub.wait_for("sendMessage", count=n, timeout=600)
    elapsed = time.monotonic() - begin
    proc.terminate()
    await proc.wait()
    await stub.stop()
    return n / elapsed, startup


async def latency(folder: Path, rate: int, seconds: int = 10) -> tuple[float, float, float]:
    stub = StubBotAPI()
    await stub.start()
    env, _ = await bot_env(stub, folder)
    proc = await spawn(["-m", "bot"], env, folder)
    await stub.wait_for("getUpdates", timeout=60)
    total = rate * seconds
    chats = [-1002000000 - i for i in range(total)]
    await stub.send(LEAD, lead, "/customer_add LAT 24x7 Latency")
    for chat in chats:
        stub.chat(chat, f"Lat {chat}")
        await stub.send(chat, lead, "/bind LAT")
    await stub.wait_for("sendMessage", lambda p: "now connected" in p.get("text", ""), count=total, timeout=600)
    offered: dict[tuple[int, int], float] = {}  # (chat, message id): Telegram numbers messages per chat
    begin = time.monotonic()
    for i, chat in enumerate(chats):
        await asyncio.sleep(max(0.0, begin + i / rate - time.monotonic()))
        message = stub.make_message(chat, client(chat), f"problem {i}")
        offered[(chat, message["message_id"])] = time.monotonic()
        await stub.feed({"message": message})
    await stub.wait_for("sendMessage", lambda p: "is registered" in p.get("text", ""), count=total, timeout=600)
    waits = sorted(c.at - offered[(int(c.params["chat_id"]), c.params["reply_parameters"]["message_id"])]
                   for c in stub.find("sendMessage", where=lambda p: "is registered" in p.get("text", "")))
    proc.terminate()
    await proc.wait()
    await stub.stop()
    achieved = total / (max(c.at for c in stub.calls) - begin)
    return statistics.median(waits), waits[int(0.99 * len(waits)) - 1], achieved


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        desk, startup, restart = await dutydesk_throughput(n, Path(first))
        echo, echo_startup = await echo_throughput(n, Path(second))
    line = (f"intake: DutyDesk {desk:.0f} msg/s, echo bot {echo:.0f} msg/s, ratio {desk / echo:.2f}; "
            f"start-up to first getUpdates: DutyDesk {restart:.2f} s (ratio {restart / echo_startup:.2f}; "
            f"first start, migrating an empty database, {startup:.2f} s), echo bot {echo_startup:.2f} s")
    if os.environ.get("BENCH_DATABASE_URL"):
        print(line + " (latency runs skipped with BENCH_DATABASE_URL: each needs a fresh database)")
        return
    for rate in (25, 100):
        with tempfile.TemporaryDirectory() as folder:
            p50, p99, achieved = await latency(Path(folder), rate)
        line += (f"; update→acknowledgement at {rate} msg/s offered ({achieved:.0f}/s acknowledged): "
                 f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    print(line)


if __name__ == "__main__":
    asyncio.run(main())
