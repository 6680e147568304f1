"""Start-up to the first getUpdates, DutyDesk beside the bare aiogram echo bot (run by hand).

    .venv/bin/python bench/startup.py [RUNS]                   # SQLite
    BENCH_DATABASE_URL=postgres://…/db .venv/bin/python bench/startup.py [RUNS]

The start-up part of bench/intake.py alone, repeated: the database is migrated once (a first start), then
RUNS times a restart of DutyDesk on it and a start of the echo bot, one after the other on the same stub so
both see the same machine load. Prints each pair and the range of the ratio: of the wall-clock time, and of
the CPU time the process had used by then (user + system), which a busy shared machine moves far less.
The first start writes the bytecode cache the restarts read, as a deployed bot's first run does.
"""

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake import bot_env, spawn  # noqa: E402
from tests.stub_api import TOKEN, StubBotAPI  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def time_to_poll(stub: StubBotAPI, args: list[str], env: dict[str, str], folder: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds from the spawn to the first getUpdates."""
    stub.calls.clear()
    started = time.monotonic()
    proc = await spawn(args, env, folder)
    await stub.wait_for("getUpdates", timeout=120)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(proc.pid)
    proc.terminate()
    await proc.wait()
    return elapsed, cpu


def spread(name: str, ratios: list[float]) -> str:
    return f"{name} {min(ratios):.2f}–{max(ratios):.2f} (median {sorted(ratios)[len(ratios) // 2]:.2f})"


async def main(runs: int) -> None:
    # A restart reads the modules' bytecode its first run cached (`./scripts/run` installs the checkout and
    # runs it). A shell with PYTHONDONTWRITEBYTECODE set would make every start compile the desk's half a
    # megabyte of source again, which the echo bot, one small file, barely pays.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    stub = StubBotAPI()
    await stub.start()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        env, _ = await bot_env(stub, folder)
        first, _ = await time_to_poll(stub, ["-m", "bot"], env, folder)
        print(f"first start (migrating): {first:.2f} s", flush=True)
        ratios, cpu_ratios = [], []
        for _ in range(runs):
            desk, desk_cpu = await time_to_poll(stub, ["-m", "bot"], env, folder)
            echo, echo_cpu = await time_to_poll(stub, [str(ROOT / "bench" / "echo_bot.py")],
                                                {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": stub.url}, folder)
            ratios.append(desk / echo)
            cpu_ratios.append(desk_cpu / echo_cpu)
            print(f"restart {desk:.2f} s (CPU {desk_cpu:.2f} s), echo bot {echo:.2f} s (CPU {echo_cpu:.2f} s): "
                  f"ratio {desk / echo:.2f}, CPU ratio {desk_cpu / echo_cpu:.2f}", flush=True)
    await stub.stop()
    print(f"start-up to the echo bot over {runs} runs: {spread('wall-clock ratio', ratios)}; "
          f"{spread('CPU ratio', cpu_ratios)}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
