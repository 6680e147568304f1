"""Working-time arithmetic: the spec's table cases, and properties checked by hypothesis."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.policy import CalendarSpec, load_policy, parse_days, parse_hours
from domain.sla import Sla
from domain.worktime import WorkCalendar

MSK = ZoneInfo("Europe/Moscow")
POLICY = load_policy(None)
SLA = Sla(POLICY)
BUSINESS = SLA.calendars["business"]
ALWAYS = SLA.calendars["always"]


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MSK)


@pytest.mark.parametrize(("plan", "priority", "opened", "deadline"), [
    # 8x5 P1 at Friday 18:30 Moscow → next working day 10:30
    ("8x5", "P1", msk(2026, 3, 13, 18, 30), msk(2026, 3, 16, 10, 30)),
    # at 09:59 the clock starts at 10:00; at 19:00 exactly it is closed already
    ("8x5", "P1", msk(2026, 3, 16, 9, 59), msk(2026, 3, 16, 11, 0)),
    ("8x5", "P1", msk(2026, 3, 16, 19, 0), msk(2026, 3, 17, 11, 0)),
    ("8x5", "P1", msk(2026, 3, 16, 18, 0), msk(2026, 3, 16, 19, 0)),  # runs out exactly at closing
    # a public holiday (Defender of the Fatherland Day, Monday 2026-02-23)
    ("8x5", "P2", msk(2026, 2, 23, 12, 0), msk(2026, 2, 24, 11, 0)),
    # the eve of the New Year holidays: 2026-12-31 is a substituted day off, 1–8 January holidays
    ("8x5", "P1", msk(2026, 12, 30, 18, 30), msk(2027, 1, 11, 10, 30)),
    # warranty P3: 16 working hours = a 9-hour Monday and 7 hours of Tuesday
    ("warranty", "P3", msk(2026, 3, 16, 10, 0), msk(2026, 3, 17, 17, 0)),
    ("warranty", "P1", msk(2026, 3, 13, 15, 0), msk(2026, 3, 16, 14, 0)),
    # 24x7 at 23:59 and premium at 23:50: no minute lost at midnight
    ("24x7", "P3", msk(2026, 3, 13, 23, 59), msk(2026, 3, 14, 0, 59)),
    ("premium", "P1", msk(2026, 3, 13, 23, 50), msk(2026, 3, 14, 0, 5)),
    ("premium", "P4", msk(2026, 1, 1, 3, 0), msk(2026, 1, 1, 3, 15)),  # 24x7 ignores holidays
])
def test_spec_table(plan, priority, opened, deadline):
    assert SLA.deadline(plan, priority, opened) == deadline


def test_transferred_working_saturday_counts():
    # 2024-04-27 was a working Saturday in Russia; 2024-04-29 and -30 were days off.
    assert BUSINESS.is_working_day(date(2024, 4, 27))
    assert not BUSINESS.is_working_day(date(2024, 4, 29))
    assert SLA.deadline("8x5", "P1", msk(2024, 4, 26, 18, 30)) == msk(2024, 4, 27, 10, 30)


def test_extra_holidays_and_workdays_from_the_policy():
    spec = POLICY.calendars["business"]
    custom = WorkCalendar(CalendarSpec(spec.name, spec.timezone, spec.hours, spec.days, "RU",
                                       frozenset({date(2026, 3, 16)}), frozenset({date(2026, 3, 14)})))
    assert custom.add(msk(2026, 3, 13, 18, 30), timedelta(hours=1)) == msk(2026, 3, 14, 10, 30)
    assert not custom.is_working_day(date(2026, 3, 16))


def test_split_ranges_and_next_opening():
    spec = CalendarSpec("lunch", MSK, parse_hours("10:00-13:00,14:00-19:00"), parse_days("mon-fri"), None,
                        frozenset(), frozenset())
    cal = WorkCalendar(spec)
    assert cal.add(msk(2026, 3, 16, 12, 30), timedelta(hours=1)) == msk(2026, 3, 16, 14, 30)
    assert cal.next_opening(msk(2026, 3, 16, 13, 30)) == msk(2026, 3, 16, 14, 0)
    assert cal.next_opening(msk(2026, 3, 16, 12, 0)) == msk(2026, 3, 16, 12, 0)
    assert not cal.is_open(msk(2026, 3, 16, 13, 0)) and cal.is_open(msk(2026, 3, 16, 12, 59))
    assert cal.working_between(msk(2026, 3, 16, 9, 0), msk(2026, 3, 17, 9, 0)) == timedelta(hours=8)


def test_remind_at_is_never_before_the_incident():
    timing = SLA.timing("premium", "P1", msk(2026, 3, 16, 3, 0))
    assert timing.remind_at == msk(2026, 3, 16, 3, 10) and timing.deadline == msk(2026, 3, 16, 3, 15)
    night = SLA.timing("8x5", "P1", msk(2026, 3, 16, 2, 0))
    assert night.clock_starts == msk(2026, 3, 16, 10, 0)
    assert night.remind_at == msk(2026, 3, 16, 10, 45)


def test_reminder_and_repeats_follow_the_plans_calendar():
    # Friday 18:05, 8x5 P1: due Monday 10:05; 15 working minutes before it is Friday 18:50, not Monday 09:50.
    friday = SLA.timing("8x5", "P1", msk(2026, 3, 13, 18, 5))
    assert friday.deadline == msk(2026, 3, 16, 10, 5) and friday.remind_at == msk(2026, 3, 13, 18, 50)
    # A breach at 19:00 repeats in the next morning's hours, not at 19:15, 19:30, 19:45.
    evening = msk(2026, 3, 16, 19, 0)
    assert [SLA.repeat_at("8x5", evening, n) for n in (1, 2, 3)] == [
        msk(2026, 3, 17, 10, 15), msk(2026, 3, 17, 10, 30), msk(2026, 3, 17, 10, 45)]
    # 24x7 plans are the same in working and wall-clock time.
    assert SLA.repeat_at("24x7", evening, 2) == msk(2026, 3, 16, 19, 30)
    assert SLA.timing("premium", "P1", msk(2026, 3, 13, 18, 5)).remind_at == msk(2026, 3, 13, 18, 15)


@pytest.mark.parametrize(("end", "minutes", "start"), [
    (msk(2026, 3, 16, 10, 5), 15, msk(2026, 3, 13, 18, 50)),  # over a weekend
    (msk(2026, 3, 16, 10, 15), 15, msk(2026, 3, 16, 10, 0)),  # exactly the day's first quarter-hour
    (msk(2026, 3, 16, 19, 0), 15, msk(2026, 3, 16, 18, 45)),  # from the closing minute
    (msk(2026, 3, 16, 23, 0), 15, msk(2026, 3, 16, 18, 45)),  # from the night: the evening's last minutes
    (msk(2026, 2, 24, 10, 10), 60, msk(2026, 2, 20, 18, 10)),  # over a weekend and a public holiday (Feb 23)
    (msk(2026, 3, 16, 12, 0), 0, msk(2026, 3, 16, 12, 0)),
])
def test_subtract(end, minutes, start):
    assert BUSINESS.subtract(end, timedelta(minutes=minutes)) == start


# ---- properties ---------------------------------------------------------------------------------
UTC_SPEC = CalendarSpec("utc", ZoneInfo("UTC"), parse_hours("09:00-12:00,13:00-17:30"), parse_days("mon-fri"),
                        None, frozenset({date(2026, 5, 1)}), frozenset({date(2026, 5, 2)}))
CALENDARS = {"business": BUSINESS, "always": ALWAYS, "utc_split": WorkCalendar(UTC_SPEC)}

moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31),
                       timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0))
durations = st.integers(min_value=0, max_value=400 * 3600).map(lambda s: timedelta(seconds=s))
calendar_names = st.sampled_from(sorted(CALENDARS))


@settings(max_examples=300, deadline=None)
@given(calendar_names, moments, durations)
def test_measuring_what_was_added_gives_it_back(name, start, duration):
    cal = CALENDARS[name]
    assert cal.working_between(start, cal.add(start, duration)) == duration


@settings(max_examples=300, deadline=None)
@given(calendar_names, moments, durations.filter(lambda d: d > timedelta(0)))
def test_add_lands_in_working_time_or_at_a_range_end(name, start, duration):
    cal = CALENDARS[name]
    end = cal.add(start, duration)
    assert cal.is_open(end) or cal.is_open(end - timedelta(seconds=1))


@settings(max_examples=200, deadline=None)
@given(calendar_names, moments, moments, durations, durations)
def test_add_is_monotonic(name, a, b, d1, d2):
    cal = CALENDARS[name]
    a, b = min(a, b), max(a, b)
    d1, d2 = min(d1, d2), max(d1, d2)
    assert cal.add(a, d1) <= cal.add(b, d1)
    assert cal.add(a, d1) <= cal.add(a, d2)


def brute_force_add(cal: WorkCalendar, start: datetime, minutes: int) -> datetime:
    """The reference: walk minute by minute from a minute boundary."""
    t = start
    while minutes > 0 or not cal.is_open(t):
        if cal.is_open(t):
            minutes -= 1
            if minutes == 0:
                return t + timedelta(minutes=1)
        t += timedelta(minutes=1)
    return t


@settings(max_examples=60, deadline=None)
@given(calendar_names, moments.map(lambda d: d.replace(second=0)), st.integers(min_value=1, max_value=3 * 600))
def test_agrees_with_a_minute_by_minute_reference(name, start, minutes):
    cal = CALENDARS[name]
    assert cal.add(start, timedelta(minutes=minutes)) == brute_force_add(cal, start, minutes)


def test_hours_that_start_and_end_on_the_half_hour():
    """Minutes of the opening and closing times count (a mutant dropped them: only whole hours were tested)."""
    spec = CalendarSpec("half", MSK, parse_hours("09:30-18:15"), parse_days("mon-fri"), None, frozenset(),
                        frozenset())
    cal = WorkCalendar(spec)
    assert cal.add(msk(2026, 3, 16, 8, 0), timedelta(minutes=10)) == msk(2026, 3, 16, 9, 40)
    assert cal.add(msk(2026, 3, 16, 18, 0), timedelta(minutes=30)) == msk(2026, 3, 17, 9, 45)
    assert cal.is_open(msk(2026, 3, 16, 18, 14)) and not cal.is_open(msk(2026, 3, 16, 18, 15))


@settings(max_examples=300, deadline=None)
@given(calendar_names, moments, durations.filter(lambda d: d > timedelta(0)))
def test_subtract_is_add_backwards(name, end, duration):
    """The latest moment with exactly `duration` of working time before `end`, and in working time."""
    cal = CALENDARS[name]
    start = cal.subtract(end, duration)
    assert cal.working_between(start, end) == duration
    assert cal.is_open(start)
    assert cal.working_between(start + timedelta(seconds=1), end) < duration
    if cal.is_open(end):
        assert cal.add(start, duration) == end
