"""Time 100,000 reaction-deadline computations with the built-in policy (run by hand).

    .venv/bin/python bench/deadlines.py

Prints one line: deadlines per second. Starts are spread over a year, across all plans and priorities,
so business-calendar deadlines cross nights, weekends and holidays.
"""

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.policy import PLANS, PRIORITIES, load_policy
from domain.sla import Sla

N = 100_000


def main() -> None:
    sla = Sla(load_policy(None))
    rng = random.Random(7)
    year = datetime(2026, 1, 1, tzinfo=UTC)
    cases = [(rng.choice(PLANS), rng.choice(PRIORITIES), year + timedelta(seconds=rng.randrange(365 * 86400)))
             for _ in range(N)]
    started = time.perf_counter()
    for plan, priority, opened in cases:
        sla.deadline(plan, priority, opened)
    elapsed = time.perf_counter() - started
    print(f"deadlines: {N} in {elapsed:.3f} s = {N / elapsed:,.0f} per second")


if __name__ == "__main__":
    main()
