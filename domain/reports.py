"""Support reports: what happened in a period, measured against the SLA, and what to recommend.

Periods are whole local days in the customer's (or the desk's) time zone, end exclusive: the previous
full calendar week (Mon–Sun), month or quarter (`previous`), a calendar month (`month`), or a range of days,
both included (`days`). `handlers.args.parse_period` reads them from a command.

An incident counts as *opened* in the period it was opened in and as *resolved* in the period it was
resolved in, so one that spans a border appears in each. Reaction times are working time on the plan's
calendar. An incident still unanswered after its deadline is a breach; one still within it is pending
and left out of the share.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.models import Customer, Incident
from domain.policy import PRIORITIES
from domain.sla import BREACHED, MET, Sla, verdict

REPORT_HOUR = time(10, 0)
UNITS = ("week", "month", "quarter")  # the full periods `previous` knows
MAX_DAYS = 3660  # a range of days: about ten years at most


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    first_day: date
    last_day: date  # inclusive, for display


def _period(first: date, after_last: date, zone: ZoneInfo) -> Period:
    return Period(datetime.combine(first, time(0), zone), datetime.combine(after_last, time(0), zone),
                  first, after_last - timedelta(days=1))


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def previous(kind: str, today: date, zone: ZoneInfo) -> Period:
    """The last full week (Mon–Sun), month or quarter before `today`."""
    if kind == "week":
        this_monday = today - timedelta(days=today.weekday())
        return _period(this_monday - timedelta(days=7), this_monday, zone)
    if kind == "month":
        this_month = _month_start(today)
        return _period(_add_months(this_month, -1), this_month, zone)
    this_quarter = _quarter_start(today)
    return _period(_add_months(this_quarter, -3), this_quarter, zone)


def month(day: date, zone: ZoneInfo) -> Period:
    """The calendar month `day` falls in."""
    first = _month_start(day)
    return _period(first, _add_months(first, 1), zone)


def days(first: date, last: date, zone: ZoneInfo) -> Period:
    """The days from `first` to `last`, both included; ValueError when `last` comes before `first` or the
    range is longer than MAX_DAYS."""
    if last < first or (last - first).days > MAX_DAYS:
        raise ValueError(f"not a period: {first} to {last}")
    return _period(first, last + timedelta(days=1), zone)


def scheduled(kind: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, Period] | None:
    """The latest scheduled delivery of a `weekly`, `monthly` or `quarterly` report at or before now
    (Monday / the 1st / the 1st of a quarter, at 10:00 local), with the period it covers."""
    today = now.astimezone(zone).date()
    if kind == "weekly":
        day = today - timedelta(days=today.weekday())
    elif kind == "monthly":
        day = _month_start(today)
    elif kind == "quarterly":
        day = _quarter_start(today)
    else:
        return None
    due = datetime.combine(day, REPORT_HOUR, zone)
    if due > now:  # today's delivery is still ahead: the latest one was the previous
        day = (day - timedelta(days=7) if kind == "weekly"
               else _add_months(day, -1 if kind == "monthly" else -3))
        due = datetime.combine(day, REPORT_HOUR, zone)
    unit = {"weekly": "week", "monthly": "month", "quarterly": "quarter"}[kind]
    return due, previous(unit, day, zone)


@dataclass
class Report:
    period: Period
    customers: list[Customer]
    opened: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PRIORITIES, 0))
    resolved: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PRIORITIES, 0))
    reactions: list[tuple[datetime, timedelta, timedelta, str]] = field(default_factory=list)  # opened, took, target
    met: int = 0
    measured: int = 0
    breaches: list[tuple[str, str, timedelta | None]] = field(default_factory=list)  # key, priority, late by
    ratings: list[int] = field(default_factory=list)
    still_open: list[Incident] = field(default_factory=list)
    weekly: dict[date, dict[str, int]] = field(default_factory=dict)
    night_p1: int = 0
    recommendations: list[tuple[str, dict]] = field(default_factory=list)

    @property
    def total_opened(self) -> int:
        return sum(self.opened.values())

    @property
    def total_resolved(self) -> int:
        return sum(self.resolved.values())

    @property
    def median(self) -> timedelta | None:
        took = [r[1] for r in self.reactions]
        return timedelta(seconds=statistics.median(t.total_seconds() for t in took)) if took else None

    @property
    def p90(self) -> timedelta | None:
        took = sorted(r[1] for r in self.reactions)
        return took[max(0, math.ceil(0.9 * len(took)) - 1)] if took else None  # nearest rank

    @property
    def share_met(self) -> float | None:
        return self.met / self.measured if self.measured else None

    @property
    def average_rating(self) -> float | None:
        return sum(self.ratings) / len(self.ratings) if self.ratings else None


def owed(code: str, period: Period) -> dict[str, str]:
    """A periodic report as an outbox row's parameters (`build_owed` reads them back when it is sent)."""
    return {"customer": code, "start": period.start.isoformat(), "end": period.end.isoformat(),
            "first": period.first_day.isoformat(), "last": period.last_day.isoformat()}


async def build_owed(params: dict, now: datetime, sla: Sla, default_zone: ZoneInfo) -> tuple[Customer, Report] | None:
    """The report an outbox row owes, built from the data as it is when it is sent, with its customer; None
    when the customer is gone. Every channel that delivers reports reads the same figures from here."""
    customer = await Customer.get_or_none(code=params["customer"])
    if customer is None:
        return None
    zone = ZoneInfo(customer.tz) if customer.tz else default_zone
    period = Period(datetime.fromisoformat(params["start"]), datetime.fromisoformat(params["end"]),
                    date.fromisoformat(params["first"]), date.fromisoformat(params["last"]))
    return customer, await build([customer], period, now, sla, zone)


def week_of(moment: datetime, zone: ZoneInfo) -> date:
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


async def build(customers: list[Customer], period: Period, now: datetime, sla: Sla, zone: ZoneInfo) -> Report:
    report = Report(period, customers)
    ids = [c.id for c in customers]
    opened = await Incident.filter(customer_id__in=ids, opened_at__gte=period.start, opened_at__lt=period.end)
    business = sla.calendars.get("business")
    week = week_of(period.start, zone)
    while datetime.combine(week, time(0), zone) < period.end:  # every week of the period, empty ones too
        report.weekly[week] = dict.fromkeys(PRIORITIES, 0)
        week += timedelta(days=7)
    for incident in sorted(opened, key=lambda i: i.opened_at):
        report.opened[incident.priority] += 1
        week_counts = report.weekly.setdefault(week_of(incident.opened_at, zone), dict.fromkeys(PRIORITIES, 0))
        week_counts[incident.priority] += 1
        target = sla.target(incident.plan, incident.priority)
        if incident.priority == "P1" and business is not None and not business.is_open(incident.opened_at):
            report.night_p1 += 1
        if incident.responded_at is not None:
            took = sla.reaction_time(incident.plan, incident.opened_at, incident.responded_at)
            report.reactions.append((incident.opened_at, took, target, incident.key))
            report.measured += 1
            if verdict(incident.deadline, incident.responded_at, now) == MET:
                report.met += 1
            else:
                late = sla.reaction_time(incident.plan, incident.deadline, incident.responded_at)  # working time
                report.breaches.append((incident.key, incident.priority, late))
        elif verdict(incident.deadline, None, now) == BREACHED:
            report.measured += 1
            report.breaches.append((incident.key, incident.priority, None))
    resolved = await Incident.filter(customer_id__in=ids, resolved_at__gte=period.start, resolved_at__lt=period.end)
    for incident in resolved:
        report.resolved[incident.priority] += 1
        if incident.rating is not None:
            report.ratings.append(incident.rating)
    report.still_open = await Incident.filter(customer_id__in=ids, status__in=("new", "in_progress"),
                                              opened_at__lt=period.end).order_by("opened_at")
    report.recommendations = recommend(report, customers)
    return report


def recommend(report: Report, customers: list[Customer]) -> list[tuple[str, dict]]:
    """Advice drawn from the numbers, as catalog keys with their parameters."""
    advice: list[tuple[str, dict]] = []
    total = report.total_opened
    if total >= 3 and report.opened["P4"] / total >= 0.4:
        advice.append(("recommend.training", {"share": round(100 * report.opened["P4"] / total)}))
    plans = {c.plan for c in customers}
    if report.night_p1 >= 2 and plans & {"warranty", "8x5"}:
        advice.append(("recommend.upgrade_24x7", {"count": report.night_p1}))
    share = report.share_met
    if share is not None and report.measured >= 3 and share < 0.8:
        advice.append(("recommend.staffing", {"share": round(100 * share)}))
    average = report.average_rating
    if average is not None and len(report.ratings) >= 3 and average < 3.5:
        advice.append(("recommend.quality", {"rating": round(average, 1)}))
    if len(report.still_open) >= 5:
        advice.append(("recommend.backlog", {"count": len(report.still_open)}))
    return advice


EXPORT_COLUMNS = ["key", "customer", "plan", "priority", "status", "opened_at", "deadline", "responded_at",
                  "resolved_at", "closed_at", "reaction_seconds", "target_seconds", "sla", "rating", "assignee_id",
                  "title"]
# Excel and LibreOffice read a cell that starts with one of these as a formula (`=HYPERLINK(…)` would be a
# live link, `=cmd|…` worse): customer text in a CSV cell gets the usual leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(columns: list[str], rows: list[dict]) -> str:
    """Every CSV the desk writes goes through here, so no cell of it is a formula."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


async def export_rows(customers: list[Customer], period: Period, now: datetime, sla: Sla) -> list[dict]:
    codes = {c.id: c.code for c in customers}
    rows = []
    for incident in await Incident.filter(customer_id__in=list(codes), opened_at__gte=period.start,
                                          opened_at__lt=period.end).order_by("opened_at", "id"):
        took = (sla.reaction_time(incident.plan, incident.opened_at, incident.responded_at)
                if incident.responded_at else None)
        rows.append({
            "key": incident.key, "customer": codes[incident.customer_id], "plan": incident.plan,
            "priority": incident.priority, "status": incident.status,
            "opened_at": incident.opened_at.isoformat(),
            "deadline": incident.deadline.isoformat() if incident.deadline else "",
            "responded_at": incident.responded_at.isoformat() if incident.responded_at else "",
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else "",
            "closed_at": incident.closed_at.isoformat() if incident.closed_at else "",
            "reaction_seconds": int(took.total_seconds()) if took is not None else "",
            "target_seconds": int(sla.target(incident.plan, incident.priority).total_seconds()),
            "sla": verdict(incident.deadline, incident.responded_at, now), "rating": incident.rating or "",
            "assignee_id": incident.assignee_id or "",
            "title": incident.title,
        })
    return rows
