"""Schedule resolution: shifts across midnight, rotations across handoffs and weeks, overrides, gaps."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.oncall import (
    Duty,
    OverrideSpan,
    RotationPlan,
    covering,
    gaps,
    next_start,
    occurrence,
    occurrences_between,
    on_call_at,
    people,
)
from domain.policy import ShiftSpec, load_policy

MSK = ZoneInfo("Europe/Moscow")
SHIFTS = load_policy(None).shifts
A, B, C, X, Y = 11, 22, 33, 44, 55


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MSK)


def test_night_shift_crosses_midnight_and_belongs_to_its_start_date():
    night = SHIFTS["night"]
    occ = covering(night, msk(2026, 3, 17, 3, 0))
    assert occ.day == date(2026, 3, 16)
    assert (occ.start, occ.end) == (msk(2026, 3, 16, 19, 0), msk(2026, 3, 17, 10, 0))
    assert covering(night, msk(2026, 3, 17, 10, 0)) is None  # the end is exclusive
    assert covering(SHIFTS["day"], msk(2026, 3, 17, 10, 0)).day == date(2026, 3, 17)
    assert occurrence(night, date(2026, 3, 16)).start.tzinfo == UTC


def test_daily_rotation_hands_off_at_the_shift_start():
    rotations = {"day": RotationPlan("day", "daily", (A, B, C), date(2026, 3, 16))}
    who = lambda t: people(on_call_at(t, SHIFTS, rotations, []))  # noqa: E731
    assert who(msk(2026, 3, 16, 12, 0)) == [A]
    assert who(msk(2026, 3, 16, 18, 59)) == [A]
    assert who(msk(2026, 3, 16, 19, 0)) == []  # night has no roster
    assert who(msk(2026, 3, 17, 10, 0)) == [B]
    assert who(msk(2026, 3, 18, 10, 0)) == [C]
    assert who(msk(2026, 3, 19, 10, 0)) == [A]
    assert who(msk(2026, 3, 15, 12, 0)) == [C]  # before the anchor it counts backwards


def test_weekly_rotation_across_weeks_and_a_night_shift():
    rotations = {"night": RotationPlan("night", "weekly", (A, B), date(2026, 3, 16))}
    who = lambda t: people(on_call_at(t, SHIFTS, rotations, []))  # noqa: E731
    assert who(msk(2026, 3, 16, 20, 0)) == [A]
    assert who(msk(2026, 3, 17, 20, 0)) == [A]  # the next night is still A's week
    assert who(msk(2026, 3, 23, 9, 59)) == [A]  # the night of the 22nd still belongs to week one
    assert who(msk(2026, 3, 23, 19, 0)) == [B]
    assert who(msk(2026, 3, 30, 19, 0)) == [A]


def test_overrides_win_over_rotations_and_each_other():
    rotations = {"day": RotationPlan("day", "daily", (A,), date(2026, 3, 16)),
                 "night": RotationPlan("night", "daily", (B,), date(2026, 3, 16))}
    first = OverrideSpan(1, X, msk(2026, 3, 16, 12, 0), msk(2026, 3, 16, 20, 0))
    second = OverrideSpan(2, Y, msk(2026, 3, 16, 13, 0), msk(2026, 3, 16, 14, 0))
    who = lambda t: people(on_call_at(t, SHIFTS, rotations, [first, second]))  # noqa: E731
    assert who(msk(2026, 3, 16, 11, 0)) == [A]
    assert who(msk(2026, 3, 16, 12, 30)) == [X]
    assert who(msk(2026, 3, 16, 13, 30)) == [Y, X]  # both on duty, the latest override first
    assert who(msk(2026, 3, 16, 19, 30)) == [X]  # into the night shift too
    assert who(msk(2026, 3, 16, 20, 0)) == [B]


def test_gaps_are_found_and_filled_by_overrides():
    rotations = {"day": RotationPlan("day", "daily", (A,), date(2026, 3, 16))}
    start, end = msk(2026, 3, 16, 10, 0), msk(2026, 3, 18, 10, 0)
    found = gaps(start, end, SHIFTS, rotations, [])
    assert [(g.shift, g.day) for g in found] == [("night", date(2026, 3, 16)), ("night", date(2026, 3, 17))]
    whole = OverrideSpan(1, X, msk(2026, 3, 16, 19, 0), msk(2026, 3, 17, 10, 0))
    part = OverrideSpan(2, Y, msk(2026, 3, 17, 19, 0), msk(2026, 3, 18, 2, 0))
    found = gaps(start, end, SHIFTS, rotations, [whole, part])
    assert [(g.shift, g.day) for g in found] == [("night", date(2026, 3, 17))]  # half a night is still a gap
    chained = OverrideSpan(3, X, msk(2026, 3, 18, 2, 0), msk(2026, 3, 18, 10, 0))
    assert gaps(start, end, SHIFTS, rotations, [whole, part, chained]) == []


def test_override_outside_every_shift_still_counts():
    shifts = {"day": SHIFTS["day"]}
    span = OverrideSpan(1, X, msk(2026, 3, 16, 22, 0), msk(2026, 3, 16, 23, 0))
    duties = on_call_at(msk(2026, 3, 16, 22, 30), shifts, {}, [span])
    assert people(duties) == [X] and duties[0].shift is None
    assert people(on_call_at(msk(2026, 3, 16, 22, 30) + timedelta(hours=1), shifts, {}, [span])) == []


TOKYO = ZoneInfo("Asia/Tokyo")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def test_a_shift_that_ends_when_it_starts_lasts_a_whole_day():
    occ = occurrence(ShiftSpec("all", time(9), time(9), MSK), date(2026, 3, 16))
    assert (occ.start, occ.end) == (msk(2026, 3, 16, 9, 0), msk(2026, 3, 17, 9, 0))


def test_shift_dates_are_read_in_the_shifts_zone_not_in_utc():
    early = ShiftSpec("early", time(0), time(8), TOKYO)
    one_am = datetime(2026, 3, 17, 1, 0, tzinfo=TOKYO)  # still the 16th in UTC
    assert covering(early, one_am).day == date(2026, 3, 17)
    assert [o.day for o in occurrences_between(early, datetime(2026, 3, 16, 12, 0, tzinfo=TOKYO), one_am)] == \
        [date(2026, 3, 17)]
    late = ShiftSpec("late", time(22), time(18), LOS_ANGELES)  # crosses midnight
    half_past_five = datetime(2026, 3, 17, 17, 30, tzinfo=LOS_ANGELES)  # already the 18th in UTC
    assert [o.day for o in occurrences_between(late, half_past_five, half_past_five + timedelta(minutes=10))] == \
        [date(2026, 3, 16)]
    evening = ShiftSpec("evening", time(19), time(23), LOS_ANGELES)
    assert next_start(evening, half_past_five).day == date(2026, 3, 17)


def test_occurrences_between_is_half_open_and_next_start_is_strictly_after():
    day = SHIFTS["day"]
    assert [o.day for o in occurrences_between(day, msk(2026, 3, 16, 12, 0), msk(2026, 3, 17, 10, 0))] == \
        [date(2026, 3, 16)]
    assert next_start(day, msk(2026, 3, 16, 10, 0)).day == date(2026, 3, 17)


def test_duties_say_where_each_comes_from():
    day = SHIFTS["day"]
    shifts = {"day": day}
    noon = msk(2026, 3, 16, 12, 0)
    occ = covering(day, noon)
    rotations = {"day": RotationPlan("day", "daily", (A,), date(2026, 3, 16))}
    assert on_call_at(noon, shifts, rotations, []) == [Duty("day", A, "rotation", occ)]
    assert on_call_at(noon, shifts, {}, []) == [Duty("day", None, "none", occ)]
    starting_now = OverrideSpan(1, X, noon, noon + timedelta(hours=1))  # the start is inclusive
    assert on_call_at(noon, shifts, rotations, [starting_now]) == [Duty("day", X, "override", occ)]
    night = OverrideSpan(2, Y, msk(2026, 3, 16, 22, 0), msk(2026, 3, 16, 23, 0))
    assert on_call_at(msk(2026, 3, 16, 22, 0), shifts, rotations, [night]) == [Duty(None, Y, "override", None)]
