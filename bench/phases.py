"""Where a restart's CPU time, memory and full garbage collections go, phase by phase (run by hand).

    .venv/bin/python bench/phases.py [RUNS]

Migrates a SQLite database once, then restarts `python -m bot` on it RUNS times under a wrapper that
imports what the echo bot imports first (aiogram), then the desk, and prints at each phase the process's
CPU seconds, its resident memory and the full (generation 2) collections run since the last phase. Last,
per run, what the desk adds beyond the echo bot's imports up to the first getUpdates. One process, so a
busy machine moves it less than the echo bot beside DutyDesk in bench/startup.py.
"""

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake import bot_env, spawn  # noqa: E402
from tests.stub_api import StubBotAPI  # noqa: E402

WRAPPER = r'''
import gc, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
full = []
gc.callbacks.append(lambda phase, info: info["generation"] == 2 and phase == "stop" and full.append(1))
def mark(what):
    print(f"PHASE {what:26s} cpu {time.process_time():6.3f} s  rss {rss():6.1f} MB  full collections {len(full)}",
          file=sys.stderr, flush=True)
    full.clear()
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
mark("aiogram (the echo bot's)")
import bot.__main__ as entry
import bot.app as app
mark("the desk's imports")
def after(name, is_async):
    real = getattr(app, name)
    async def wrapped_async(*args, **kwargs):
        result = await real(*args, **kwargs); mark(name); return result
    def wrapped(*args, **kwargs):
        result = real(*args, **kwargs); mark(name); return result
    setattr(app, name, wrapped_async if is_async else wrapped)
for name, is_async in (("open_database", True), ("build_dispatcher", False), ("identify", True),
                       ("Background", False), ("build_web_app", False)):
    after(name, is_async)
real_get_updates = app.Bot.get_updates
async def get_updates(self, *args, **kwargs):
    if not getattr(get_updates, "seen", False):
        get_updates.seen = True; mark("first getUpdates")
    return await real_get_updates(self, *args, **kwargs)
app.Bot.get_updates = get_updates
sys.exit(entry.main([]))
'''


async def main(runs: int) -> None:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    stub = StubBotAPI()
    await stub.start()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        env, _ = await bot_env(stub, folder)
        (folder / "wrapper.py").write_text(WRAPPER)
        proc = await spawn(["-m", "bot"], env, folder)  # migrates, writes the bytecode cache
        await stub.wait_for("getUpdates", timeout=120)
        proc.terminate()
        await proc.wait()
        extra = []
        for _ in range(runs):
            stub.calls.clear()
            (folder / "process.log").write_text("")
            proc = await spawn([str(folder / "wrapper.py")], env, folder)
            await stub.wait_for("getUpdates", timeout=120)
            await asyncio.sleep(0.5)
            proc.terminate()
            await proc.wait()
            phases = [line for line in (folder / "process.log").read_text().splitlines() if line.startswith("PHASE")]
            print("\n".join(phases), flush=True)
            cpu = [float(line.split(" cpu ")[1].split()[0]) for line in phases]
            rss = [float(line.split(" rss ")[1].split()[0]) for line in phases]
            extra.append((cpu[-1] - cpu[0], rss[-1] - rss[0]))
            print(f"beyond the echo bot's imports: CPU {cpu[-1] - cpu[0]:.3f} s, memory {rss[-1] - rss[0]:.1f} MB\n")
    await stub.stop()
    cpus = sorted(c for c, _ in extra)
    print(f"over {runs} runs: CPU {cpus[0]:.3f}–{cpus[-1]:.3f} s (median {cpus[len(cpus) // 2]:.3f})")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
