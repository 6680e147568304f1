"""Rendering times for people, shared by the handlers and the scheduler."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from domain.durations import format_duration
from locales import t


def local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "—"


def short(delta: timedelta) -> str:
    """`14m59s` under ten minutes (second-scale SLAs are real in staging), whole minutes above."""
    seconds = int(delta.total_seconds())
    if seconds >= 600:
        seconds -= seconds % 60
    return format_duration(timedelta(seconds=seconds))


def time_left(lang: str, deadline: datetime | None, now: datetime) -> str:
    if deadline is None:
        return "—"
    if deadline > now:
        return t(lang, "time.left", left=short(deadline - now))
    return t(lang, "time.overdue", by=short(now - deadline))
