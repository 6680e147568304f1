"""Scheduler tick time against the number of open incidents (run by hand).

    .venv/bin/python bench/tick.py [1000 100000 ...]

For each size: a fresh SQLite database with that many open premium incidents whose pings are due at
various future moments; prints the mean time of a tick when nothing is due, and of a tick that owes
pings for 50 incidents, then the ratio of each to the smallest size. The tick asks the index on
`next_due_at` for what is due, so its cost should follow what is due, not what is open.

The first 1,000 incidents are made through the ORM; bigger tables copy them in SQL (a million rows in
seconds rather than the best part of an hour).
"""

import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tortoise import connections

from bot.db import close_database, open_database
from bot.settings import load_settings
from domain.clock import SystemClock
from domain.models import Customer, Incident, Person, Staff
from domain.sla import Sla
from handlers.pings import make_render
from scheduler.jobs import Heartbeat, Tick

DUE = 50


class Fixed(SystemClock):
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


SEED = 1000


async def fill(customer: Customer, size: int, now: datetime) -> None:
    """SEED incidents through the ORM (so every column is stored as the program stores it), then the
    table doubles itself in SQL, new keys and numbers, same spread of due moments, until `size`."""
    rng = random.Random(size)
    seed = []
    for n in range(1, min(size, SEED) + 1):
        opened = now - timedelta(seconds=rng.randrange(3600))
        due = now + timedelta(seconds=rng.randrange(3600, 30 * 86400))
        seed.append(Incident(key=f"ACME-{n}", number=n, customer=customer, plan="premium", chat_id=-100,
                             title="problem", priority="P1", opened_at=opened, deadline=due, next_due_at=due,
                             last_activity_at=opened))
    await Incident.bulk_create(seed)
    columns = [c for c in Incident._meta.db_fields if c not in ("id", "key", "number")]
    listed = ", ".join(f'"{c}"' for c in columns)
    connection = connections.get("default")
    count = len(seed)
    while count < size:
        take = min(count, size - count)
        await connection.execute_script(
            f'INSERT INTO incident ("key", "number", {listed}) '
            f"SELECT 'ACME-' || (number + {count}), number + {count}, {listed} FROM incident "
            f"WHERE number <= {take}"
        )
        count += take


async def measure(size: int, folder: Path) -> tuple[float, float]:
    url = f"sqlite://{folder}/tick-{size}.sqlite3"
    await open_database(url)
    now = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
    settings = load_settings({"BOT_TOKEN": "1:" + "x" * 30, "DATABASE_URL": url, "LEAD_IDS": "1"})
    await Staff.create(user_id=1, role="lead", added_at=now)
    await Person.create(id=1, full_name="Lead", last_seen=now)
    customer = await Customer.create(code="ACME", name="Acme", plan="premium", created_at=now)
    await fill(customer, size, now)
    tick = Tick(settings, Fixed(now), Sla(settings.policy), make_render(settings), Heartbeat())
    await tick.run()  # warm-up: handover and gap claims for today are taken here
    idle = []
    for _ in range(20):
        started = time.perf_counter()
        await tick.run()
        idle.append(time.perf_counter() - started)
    ids = await Incident.all().order_by("id").limit(DUE).values_list("id", flat=True)
    await Incident.filter(id__in=ids).update(next_due_at=now - timedelta(seconds=1))
    started = time.perf_counter()
    await tick.run()
    busy = time.perf_counter() - started
    await close_database()
    return statistics.mean(idle), busy


async def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        results = {size: await measure(size, Path(folder)) for size in sizes}
    base_idle, base_busy = results[sizes[0]]
    print("tick: " + "; ".join(
        f"{size:,} open incidents: idle {idle * 1000:.2f} ms (x{idle / base_idle:.2f}), "
        f"{DUE} due {busy * 1000:.1f} ms (x{busy / base_busy:.2f})" for size, (idle, busy) in results.items()))


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [1000, 100000]))
