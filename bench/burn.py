"""Time the look for live codes in a text (`invitations._live_in`, every path's one rule) (run by hand).

    .venv/bin/python bench/burn.py

On an in-memory SQLite database holding 200 live invitations, for texts as channels cap them: a Telegram message
(4,096 characters), a chat-room message, and the worst mail body (100,000 characters, `TEXT_LIMIT`) made of code-
alphabet runs only, so every character starts a window. Prints one line per text: its size, how many windows were
hashed, and the median time of a look; and whether a text with no run of 32 such characters made a query.
"""

import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tortoise import Tortoise

from domain import invitations
from domain.models import Invitation

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def timed(text: str, rounds: int = 7) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await invitations._live_in(text, NOW)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def main() -> None:
    await Tortoise.init(db_url="sqlite://:memory:", modules={"models": ["domain.models"]})
    await Tortoise.generate_schemas()
    for _ in range(200):
        await invitations.create("staff", 1, NOW, role="engineer")
    token = await invitations.create("staff", 1, NOW, role="engineer")
    texts = {
        "telegram 4096, code-alphabet only": "x" * (4096 - 32) + token,
        "telegram 4096, prose with no run": ("the portal is down again, KB4023057-rollback-fails " * 90)[:4096],
        "mail 100000, code-alphabet only": "a" * (100_000 - 32) + token,
        "mail 100000, a log of 40-character keys": "\n".join(["licence-" + "k" * 32] * 2440) + token,
    }
    for name, text in texts.items():
        windows = sum(len(run[0]) - invitations.CODE_LENGTH + 1 for run in invitations._RUN.finditer(text))
        found, _ = await invitations._live_in(text, NOW)
        median = await timed(text) * 1000
        print(f"{name}: {len(text)} chars, {windows} windows, found {len(found)}, median {median:.2f} ms")
    queries = 0
    original = Invitation.filter

    def counting(*args, **kwargs):
        nonlocal queries
        queries += 1
        return original(*args, **kwargs)
    Invitation.filter = counting
    await invitations._live_in(texts["telegram 4096, prose with no run"], NOW)
    Invitation.filter = original
    print(f"queries for a text with no run of {invitations.CODE_LENGTH}: {queries}")
    await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(main())
