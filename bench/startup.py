"""Start-up to the first getUpdates, DutyDesk beside the bare aiogram echo bot (run by hand).

    .venv/bin/python bench/startup.py [RUNS]                   # SQLite
    BENCH_DATABASE_URL=postgres://…/db .venv/bin/python bench/startup.py [RUNS]

The start-up part of bench/intake.py alone, repeated: the database is migrated once (a first start), then
RUNS times a restart of DutyDesk on it and a start of the echo bot, one after the other on the same stub so
both see the same machine load. Prints each pair and the range of the ratio.
"""

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake import bot_env, spawn  # noqa: E402
from tests.stub_api import TOKEN, StubBotAPI  # noqa: E402


async def time_to_poll(stub: StubBotAPI, args: list[str], env: dict[str, str], folder: Path) -> float:
    stub.calls.clear()
    started = time.monotonic()
    proc = await spawn(args, env, folder)
    await stub.wait_for("getUpdates", timeout=120)
    elapsed = time.monotonic() - started
    proc.terminate()
    await proc.wait()
    return elapsed


async def main(runs: int) -> None:
    stub = StubBotAPI()
    await stub.start()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        env, _ = await bot_env(stub, folder)
        first = await time_to_poll(stub, ["-m", "bot"], env, folder)
        print(f"first start (migrating): {first:.2f} s", flush=True)
        ratios = []
        for _ in range(runs):
            desk = await time_to_poll(stub, ["-m", "bot"], env, folder)
            echo = await time_to_poll(stub, [str(ROOT / "bench" / "echo_bot.py")],
                                      {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": stub.url}, folder)
            ratios.append(desk / echo)
            print(f"restart {desk:.2f} s, echo bot {echo:.2f} s, ratio {desk / echo:.2f}", flush=True)
    await stub.stop()
    print(f"start-up ratio to the echo bot over {runs} runs: {min(ratios):.2f}–{max(ratios):.2f} "
          f"(median {sorted(ratios)[len(ratios) // 2]:.2f})")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
