"""Webhook intake of one instance and of two on one PostgreSQL, Telegram delivering over 16 connections.

    BENCH_PG_SERVER=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/instances.py [N]

N customer messages (default 1,500) in N/20 chats, posted as Telegram does with `max_connections`: 16
requests in flight, the connections alternating between the instances; an update is answered once it is
handled, so the rate is updates answered 200 per second. Each run gets a fresh database of its own on the
server (created and dropped here).
"""

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["TEST_DATABASE_URL"] = os.environ.get("BENCH_PG_SERVER", "")

import aiohttp  # noqa: E402

from tests import databases  # noqa: E402
from tests.stub_api import StubBotAPI  # noqa: E402
from tests.test_instances_concurrent import bind_chats, deliver, start_instances, update, writer  # noqa: E402


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def rate(n: int, count: int) -> float:
    url = await databases.create()
    stub = StubBotAPI()
    await stub.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            ports, procs = await start_instances(stub, Path(folder), url, count, LOG_LEVEL="WARNING")
            chats = [-1008000 - c for c in range(max(1, n // 20))]
            async with aiohttp.ClientSession() as session:
                first = await bind_chats(session, ports, stub, chats, 1)
                bodies = [update(first + i, chats[i % len(chats)], writer(chats[i % len(chats)]), f"problem {i}",
                                 message_id=100000 + i) for i in range(n)]
                begin = time.monotonic()
                cpu0 = [cpu(p.proc.pid) for p in procs]
                attempts = await deliver(session, ports, bodies)
                elapsed = time.monotonic() - begin
                used = [round(cpu(p.proc.pid) - c, 1) for p, c in zip(procs, cpu0, strict=True)]
                print(f"{count} instance(s): CPU seconds each {used} in {elapsed:.1f} s", file=sys.stderr)
            for proc in procs:
                await proc.stop()
            if os.environ.get("BENCH_KEEP_LOGS"):
                for k, proc in enumerate(procs):
                    Path(os.environ["BENCH_KEEP_LOGS"] + f".{count}.{k}").write_text(proc.log())
            print(f"{count} instance(s): {sum(attempts.values()) - n} deliveries again", file=sys.stderr)
    finally:
        await stub.stop()
        await databases.drop(url)
    return n / elapsed


async def main() -> None:
    if not databases.on_postgres():
        sys.exit("set BENCH_PG_SERVER=postgres://user@host:port/postgres (a server where databases may be created)")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    one = await rate(n, 1)
    two = await rate(n, 2)
    print(f"webhook intake over 16 connections, {n} messages: one instance {one:.0f} msg/s, "
          f"two instances {two:.0f} msg/s (×{two / one:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
