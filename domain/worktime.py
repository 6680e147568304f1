"""Working-time arithmetic on a calendar: pure functions, no I/O.

A calendar is a time zone, working ranges per day, working weekdays, public holidays and substituted
days off (the `holidays` package), transferred working days, and the policy's own extra holidays and
working days. `add` and `working_between` walk whole days (each day's ranges are computed once and
cached as epoch seconds), never minutes, so a year of calendar costs a few hundred steps at most.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from domain.policy import CalendarSpec

ONE_DAY = timedelta(days=1)
HORIZON_DAYS = 3660  # ten years: a calendar without working time in that span is an error, not a loop


class WorkCalendar:
    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self.tz = spec.timezone
        self._intervals = lru_cache(maxsize=4096)(self._compute_intervals)
        self._country = lru_cache(maxsize=64)(self._country_year)

    # ---- which days work -----------------------------------------------------------------------
    def _country_year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        if not self.spec.country_holidays:
            return frozenset(), frozenset()
        import holidays  # 3 MB of tables: only for a calendar that names a country (checked at load)

        table = holidays.country_holidays(self.spec.country_holidays, years=year)
        workdays = frozenset(d for d in getattr(table, "weekend_workdays", ()) if d.year == year)
        return frozenset(table.keys()), workdays

    def is_working_day(self, day: date) -> bool:
        if day in self.spec.extra_workdays:
            return True
        if day in self.spec.extra_holidays:
            return False
        public, transferred = self._country(day.year)
        if day in transferred:
            return True
        if day in public:
            return False
        return day.weekday() in self.spec.days

    def _compute_intervals(self, day: date) -> tuple[tuple[float, float], ...]:
        """The day's working ranges as (start, end) epoch seconds, end exclusive."""
        if not self.is_working_day(day):
            return ()
        out = []
        for start, end in self.spec.hours:
            a = datetime.combine(day, time(start // 60, start % 60), self.tz)
            b = (datetime.combine(day + ONE_DAY, time(0), self.tz) if end == 1440
                 else datetime.combine(day, time(end // 60, end % 60), self.tz))
            out.append((a.timestamp(), b.timestamp()))
        return tuple(out)

    def _local_day(self, ts: float) -> date:
        return datetime.fromtimestamp(ts, self.tz).date()

    # ---- operations ----------------------------------------------------------------------------
    def is_open(self, moment: datetime) -> bool:
        ts = moment.timestamp()
        return any(a <= ts < b for a, b in self._intervals(self._local_day(ts)))

    def next_opening(self, moment: datetime) -> datetime:
        """The moment itself when inside working time, else the start of the next working range."""
        return self.add(moment, timedelta(0))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment when `duration` of working time has passed since `start`.

        Lands inside working time, or exactly at the end of a range when the duration runs out there.
        """
        ts = start.timestamp()
        remaining = duration.total_seconds()
        day = self._local_day(ts)
        for _ in range(HORIZON_DAYS):
            for a, b in self._intervals(day):
                if b <= ts:
                    continue
                begin = a if a > ts else ts
                available = b - begin
                if remaining <= available:
                    return datetime.fromtimestamp(begin + remaining, UTC)
                remaining -= available
            day += ONE_DAY
        raise ValueError(f"calendar {self.spec.name} has no working time within ten years of {start}")

    def subtract(self, end: datetime, duration: timedelta) -> datetime:
        """The latest moment from which `duration` of working time runs out at `end`: `add` backwards.

        Lands inside working time (at a range's start when the duration runs out there), so a reminder
        at "deadline − 15 working minutes" is never at night; a zero duration gives `end` itself.
        """
        ts = end.timestamp()
        remaining = duration.total_seconds()
        if remaining <= 0:
            return end
        day = self._local_day(ts)
        for _ in range(HORIZON_DAYS):
            for a, b in reversed(self._intervals(day)):
                if a >= ts:
                    continue
                finish = b if b < ts else ts
                available = finish - a
                if remaining <= available:
                    return datetime.fromtimestamp(finish - remaining, UTC)
                remaining -= available
            day -= ONE_DAY
        raise ValueError(f"calendar {self.spec.name} has no working time within ten years before {end}")

    def working_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time inside [a, b); zero when b is not after a."""
        start, end = a.timestamp(), b.timestamp()
        if end <= start:
            return timedelta(0)
        total = 0.0
        day, last = self._local_day(start), self._local_day(end)
        while day <= last:
            for x, y in self._intervals(day):
                lo, hi = max(x, start), min(y, end)
                if hi > lo:
                    total += hi - lo
            day += ONE_DAY
        return timedelta(seconds=total)
