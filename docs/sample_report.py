"""Regenerate the sample report shown in the README from made-up sample data.

    .venv/bin/python docs/sample_report.py

Writes docs/sample-report.txt and docs/sample-report.png: a month of incidents of an 8x5 customer,
with the reaction times an ordinary desk would show (most answered in time, a few late, one never).
"""

import asyncio
import random
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bot.db import close_database, open_database  # noqa: E402
from domain import report_chart, reports  # noqa: E402
from domain.models import Customer, Incident  # noqa: E402
from domain.policy import load_policy  # noqa: E402
from domain.sla import Sla  # noqa: E402
from locales import report_text  # noqa: E402

MSK = ZoneInfo("Europe/Moscow")


async def main() -> None:
    rng = random.Random(2026)
    sla = Sla(load_policy(None))
    with tempfile.TemporaryDirectory() as folder:
        await open_database(f"sqlite://{folder}/sample.sqlite3")
        customer = await Customer.create(code="ACME", name="Acme Logistics", plan="8x5", created_at=datetime.now(MSK))
        moment = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
        n = 0
        while moment < datetime(2026, 3, 31, 18, 0, tzinfo=MSK):
            moment += timedelta(hours=rng.choice([5, 9, 14, 20, 27]))
            n += 1
            priority = rng.choices(["P1", "P2", "P3", "P4"], weights=[1, 3, 4, 4])[0]
            deadline = sla.deadline("8x5", priority, moment)
            answered = n != 7
            took = timedelta(minutes=rng.choice([4, 7, 12, 18, 20, 25, 35, 40, 48, 55, 70]))
            responded = sla.calendar("8x5").add(moment, took) if answered else None
            resolved = responded + timedelta(hours=rng.choice([1, 3, 6, 30])) if answered and n % 5 else None
            await Incident.create(
                key=f"ACME-{n}", number=n, customer=customer, plan="8x5", chat_id=-100, priority=priority,
                title=f"problem {n}", opened_at=moment, deadline=deadline, responded_at=responded,
                resolved_at=resolved, last_activity_at=moment, rating=rng.choice([3, 4, 5, 5]) if resolved else None,
                status="resolved" if resolved else ("in_progress" if responded else "new"))
        period = reports.month(date(2026, 3, 1), MSK)
        report = await reports.build([customer], period, datetime(2026, 4, 1, 12, 0, tzinfo=MSK), sla, MSK)
        name = "Acme Logistics (ACME)"
        (HERE / "sample-report.txt").write_text(report_text.render(report, "en", name) + "\n")
        (HERE / "sample-report.png").write_bytes(report_chart.render(report, report_text.chart_labels(report, "en",
                                                                                                         name)))
        await close_database()
    print(f"wrote {HERE / 'sample-report.txt'} and {HERE / 'sample-report.png'}")


if __name__ == "__main__":
    asyncio.run(main())
