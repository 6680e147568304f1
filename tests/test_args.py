"""Reading command arguments into the typed values the domain takes (moved here from the domain with
the parsers): override ranges, report periods, customer fields."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.errors import DeskError
from handlers.args import customer_value, parse_period, parse_range

MSK = ZoneInfo("Europe/Moscow")


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MSK)


@pytest.mark.parametrize(("words", "key"), [
    ([], "usage.override"), (["2026-03-16", "10:00"], "usage.override"), (["now", "1h", "2h", "3h"], "usage.override"),
    (["2026-03-16", "13:00", "2026-03-16", "13:00"], "err.bad_range"),  # ends when it starts
    (["2026-03-16", "11:00", "2026-03-16", "12:00"], "err.bad_range"),  # ends now
    (["2026-03-16", "13:00", "2026-04-16", "13:01"], "err.range_too_long"),
])
def test_bad_override_ranges_are_refused_with_their_reason(words, key):
    with pytest.raises(DeskError) as refused:
        parse_range(words, msk(2026, 3, 16, 12, 0), MSK)
    assert refused.value.key == key


def test_override_ranges_keep_minutes_and_may_last_the_longest_allowed():
    now = msk(2026, 3, 16, 12, 0)
    assert parse_range(["2026-03-16", "12:30", "90m"], now, MSK) == (msk(2026, 3, 16, 12, 30), msk(2026, 3, 16, 14, 0))
    assert parse_range(["2026-03-16", "13:00", "2026-04-16", "13:00"], now, MSK) == \
        (msk(2026, 3, 16, 13, 0), msk(2026, 4, 16, 13, 0))


@pytest.mark.parametrize(("words", "first", "last"), [
    ([], date(2026, 3, 1), date(2026, 3, 31)),
    (["month"], date(2026, 3, 1), date(2026, 3, 31)),
    (["week"], date(2026, 3, 30), date(2026, 4, 5)),
    (["quarter"], date(2026, 1, 1), date(2026, 3, 31)),
    (["2025-12"], date(2025, 12, 1), date(2025, 12, 31)),
    (["2026-02-10", "2026-02-20"], date(2026, 2, 10), date(2026, 2, 20)),
])
def test_periods(words, first, last):
    period = parse_period(words, msk(2026, 4, 8, 12, 0), MSK)
    assert (period.first_day, period.last_day) == (first, last)
    assert period.start == datetime.combine(first, datetime.min.time(), MSK)


@pytest.mark.parametrize("words", [["year"], ["2026-13"], ["2026-02-20", "2026-02-10"], ["2026-02-10", "soon"]])
def test_bad_periods(words):
    with pytest.raises(DeskError):
        parse_period(words, msk(2026, 4, 8), MSK)


@pytest.mark.parametrize(("field", "text", "value"), [
    ("users", "1000", 1000), ("cts", "0", 0), ("tz", "Asia/Yekaterinburg", ZoneInfo("Asia/Yekaterinburg")),
    ("contract_until", "2027-01-01", date(2027, 1, 1)), ("contract_until", "-", None), ("engineer", "None", None),
    ("contact", "-", None), ("contact", "Ivan Petrov (CIO)", "Ivan Petrov (CIO)"), ("ha", "Standby", "Standby"),
    ("name", "Acme - Logistics", "Acme - Logistics"),
])
def test_customer_fields_are_read_into_the_types_the_domain_takes(field, text, value):
    assert customer_value(field, text) == value


@pytest.mark.parametrize(("field", "text", "key"), [
    ("users", "many", "err.bad_number"), ("cts", "-1", "err.bad_number"), ("users", "1234567890", "err.bad_number"),
    ("tz", "Mars/Base", "err.bad_tz"), ("tz", "../etc/passwd", "err.bad_tz"),
    ("contract_until", "31.12.2026", "err.bad_date"),
])
def test_bad_customer_field_values_are_refused_with_their_reason(field, text, key):
    with pytest.raises(DeskError) as refused:
        customer_value(field, text)
    assert refused.value.key == key
