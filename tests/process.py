"""Running the real `python -m bot` as a subprocess against the stub Bot API server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


# How long a test waits for a started bot to poll: a bound for a loaded machine (importing aiogram alone
# can take seconds there), never a measure of speed.
STARTED_WITHIN = 120.0

class BotProcess:
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.log_path = workdir / "bot.log"

    async def start(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "LEAD_", "POLICY_"))}
        env.update(self.env)
        env["PYTHONPATH"] = str(PROJECT) + os.pathsep + env.get("PYTHONPATH", "")
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, cwd=self.workdir, env=env, stdout=log, stderr=log
        )

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        # The timeout only guards a hang: a loaded machine can take many seconds to finish a graceful stop.
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
