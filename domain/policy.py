"""The support policy: calendars, plans and their reaction targets, shifts, priority rules, tariff.

The built-in defaults live in `policy_defaults.toml`; a policy file is merged over them key by key,
then the whole is validated once. Every error is one line naming the key, its value and what is allowed.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import cache
from importlib import resources
from importlib.util import find_spec
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.durations import ALLOWED as DURATION_ALLOWED
from domain.durations import parse_positive_duration
from domain.errors import ConfigError

PLANS = ("warranty", "8x5", "24x7", "premium")
PRIORITIES = ("P1", "P2", "P3", "P4")
HA_SETUPS = ("none", "standby", "cluster")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class CalendarSpec:
    name: str
    timezone: ZoneInfo
    hours: tuple[tuple[int, int], ...]  # working ranges as minutes from midnight, end exclusive
    days: frozenset[int]  # weekday numbers, Monday = 0
    country_holidays: str | None
    extra_holidays: frozenset[date]
    extra_workdays: frozenset[date]


@dataclass(frozen=True)
class PlanPolicy:
    name: str
    calendar: str
    reaction: dict[str, timedelta]
    remind_before: timedelta
    ping: bool


@dataclass(frozen=True)
class ShiftSpec:
    name: str
    start: time
    end: time
    timezone: ZoneInfo


@dataclass(frozen=True)
class Tariff:
    currency: str
    base: dict[str, float]
    per_user: dict[str, float]
    per_cts: float
    ha: dict[str, float]


@dataclass(frozen=True)
class Policy:
    calendars: dict[str, CalendarSpec]
    plans: dict[str, PlanPolicy]
    repeat_every: timedelta
    max_repeats: int
    shifts: dict[str, ShiftSpec]
    priority_rules: dict[str, tuple[str, ...]]
    tariff: Tariff


def load_policy(path: str | None) -> Policy:
    """Built-in defaults, with the file at `path` (if any) merged over them."""
    defaults = tomllib.loads(resources.files("domain").joinpath("policy_defaults.toml").read_text("utf-8"))
    if not path:
        return parse_policy(defaults, "policy")
    source = Path(path)
    try:
        override = tomllib.loads(source.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"POLICY_FILE={path}: no such file; expected the path of a TOML policy file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"POLICY_FILE={path}: not valid TOML ({exc})") from None
    return parse_policy(_merge(defaults, override), str(source))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _Reader:
    """Validates values and raises ConfigError naming the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key} = {value!r} is invalid; expected {allowed}")

    def table(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, data, "a table")
        return data

    def only(self, data: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in data:
            if name not in allowed:
                raise self.fail(f"{key}.{name}" if key else name, data[name], f"one of the keys {', '.join(allowed)}")

    def duration(self, value: Any, key: str) -> timedelta:
        try:
            return parse_positive_duration(str(value)) if isinstance(value, str) else _raise()
        except ValueError:
            raise self.fail(key, value, DURATION_ALLOWED) from None

    def zone(self, value: Any, key: str) -> ZoneInfo:
        try:
            return ZoneInfo(value) if isinstance(value, str) and value else _raise()
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(key, value, "an IANA time zone like Europe/Moscow") from None

    def clock_time(self, value: Any, key: str, allow_24: bool = False) -> int:
        """`HH:MM` as minutes from midnight; `24:00` only where an end is meant."""
        try:
            hours, minutes = str(value).split(":")
            total = int(hours) * 60 + int(minutes)
            if len(minutes) != 2 or not 0 <= int(minutes) < 60 or not 0 <= total <= (1440 if allow_24 else 1439):
                raise ValueError
            return total
        except ValueError:
            raise self.fail(key, value, "a time HH:MM" + (" (24:00 allowed as an end)" if allow_24 else "")) from None

    def number(self, value: Any, key: str, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (positive and value == 0):
            raise self.fail(key, value, "a positive number" if positive else "a number >= 0")
        return float(value)

    def dates(self, value: Any, key: str) -> frozenset[date]:
        if not isinstance(value, list):
            raise self.fail(key, value, 'a list of dates like ["2026-12-31"]')
        out = set()
        for item in value:
            try:
                out.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
            except ValueError:
                raise self.fail(key, item, "a date YYYY-MM-DD") from None
        return frozenset(out)


def _raise() -> Any:
    raise ValueError


def parse_hours(text: str) -> tuple[tuple[int, int], ...]:
    """`10:00-13:00,14:00-19:00` → ((600, 780), (840, 1140)); ValueError when empty or overlapping."""
    reader = _Reader("hours")
    ranges = []
    for part in str(text).split(","):
        start_text, sep, end_text = part.strip().partition("-")
        if not sep:
            raise ValueError(part)
        start = reader.clock_time(start_text.strip(), "start")
        end = reader.clock_time(end_text.strip(), "end", allow_24=True)
        if end <= start:
            raise ValueError(part)
        ranges.append((start, end))
    ranges.sort()
    for (_, prev_end), (next_start, _) in pairwise(ranges):
        if next_start < prev_end:
            raise ValueError(text)
    return tuple(ranges)


def parse_days(text: str) -> frozenset[int]:
    """`mon-fri`, `mon-sun`, `mon,wed,fri`, `sat-sun` → weekday numbers."""
    days: set[int] = set()
    for part in str(text).lower().split(","):
        first, sep, last = part.strip().partition("-")
        if first not in WEEKDAYS or (sep and last not in WEEKDAYS):
            raise ValueError(part)
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last if sep else first)
        if b < a:
            raise ValueError(part)
        days.update(range(a, b + 1))
    return frozenset(days)


def _keyword_ok(phrase: str) -> bool:
    """A `*` may only end a word, after at least one other character (`недоступ*`, not `*` or `a*b`)."""
    return all("*" not in word.removesuffix("*") and word != "*" for word in phrase.split())


def parse_policy(data: dict[str, Any], source: str) -> Policy:
    r = _Reader(source)
    r.only(data, "", ("calendars", "plans", "escalation", "shifts", "priority_rules", "tariff"))

    calendars = {}
    for name, raw in r.table(data.get("calendars", {}), "calendars").items():
        key = f"calendars.{name}"
        raw = r.table(raw, key)
        r.only(raw, key, ("timezone", "hours", "days", "country_holidays", "extra_holidays", "extra_workdays"))
        try:
            hours = parse_hours(raw.get("hours", ""))
        except ValueError:
            raise r.fail(f"{key}.hours", raw.get("hours"),
                         'non-overlapping ranges like "10:00-19:00" or "10:00-13:00,14:00-19:00"') from None
        try:
            days = parse_days(raw.get("days", ""))
        except ValueError:
            raise r.fail(f"{key}.days", raw.get("days"), 'days like "mon-fri", "mon-sun" or "mon,wed,fri"') from None
        country = raw.get("country_holidays")
        if country is not None and not _country_known(country):
            raise r.fail(f"{key}.country_holidays", country, "a country code the holidays package knows, like RU")
        calendars[name] = CalendarSpec(
            name=name,
            timezone=r.zone(raw.get("timezone"), f"{key}.timezone"),
            hours=hours,
            days=days,
            country_holidays=country,
            extra_holidays=r.dates(raw.get("extra_holidays", []), f"{key}.extra_holidays"),
            extra_workdays=r.dates(raw.get("extra_workdays", []), f"{key}.extra_workdays"),
        )

    plans = {}
    raw_plans = r.table(data.get("plans", {}), "plans")
    r.only(raw_plans, "plans", PLANS)
    for name in PLANS:
        key = f"plans.{name}"
        raw = r.table(raw_plans.get(name), key)
        r.only(raw, key, ("calendar", "reaction", "remind_before", "ping"))
        if raw.get("calendar") not in calendars:
            raise r.fail(f"{key}.calendar", raw.get("calendar"), f"one of the calendars {', '.join(calendars)}")
        reaction = r.table(raw.get("reaction"), f"{key}.reaction")
        r.only(reaction, f"{key}.reaction", PRIORITIES)
        if not isinstance(raw.get("ping"), bool):
            raise r.fail(f"{key}.ping", raw.get("ping"), "true or false")
        plans[name] = PlanPolicy(
            name=name,
            calendar=raw["calendar"],
            reaction={p: r.duration(reaction.get(p), f"{key}.reaction.{p}") for p in PRIORITIES},
            remind_before=r.duration(raw.get("remind_before"), f"{key}.remind_before"),
            ping=raw["ping"],
        )

    escalation = r.table(data.get("escalation", {}), "escalation")
    r.only(escalation, "escalation", ("repeat_every", "max_repeats"))
    max_repeats = escalation.get("max_repeats")
    if isinstance(max_repeats, bool) or not isinstance(max_repeats, int) or not 0 <= max_repeats <= 100:
        raise r.fail("escalation.max_repeats", max_repeats, "a whole number from 0 to 100")

    shifts = {}
    for name, raw in r.table(data.get("shifts", {}), "shifts").items():
        key = f"shifts.{name}"
        raw = r.table(raw, key)
        r.only(raw, key, ("start", "end", "timezone"))
        start = r.clock_time(raw.get("start"), f"{key}.start")
        end = r.clock_time(raw.get("end"), f"{key}.end", allow_24=True)
        if start == end % 1440:
            raise r.fail(f"{key}.end", raw.get("end"), "a time different from the start")
        shifts[name] = ShiftSpec(
            name=name,
            start=time(start // 60, start % 60),
            end=time((end % 1440) // 60, end % 60),
            timezone=r.zone(raw.get("timezone"), f"{key}.timezone"),
        )
    if not shifts:
        raise r.fail("shifts", {}, "at least one shift")

    rules = r.table(data.get("priority_rules", {}), "priority_rules")
    r.only(rules, "priority_rules", PRIORITIES)
    priority_rules = {}
    for prio, words in rules.items():
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise r.fail(f"priority_rules.{prio}", words, "a list of non-empty phrases")
        for phrase in words:
            if not _keyword_ok(phrase):
                raise r.fail(f"priority_rules.{prio}", phrase,
                             "whole words, where a word may end in * to match words that start with it")
        priority_rules[prio] = tuple(w.strip().lower() for w in words)

    tariff = r.table(data.get("tariff", {}), "tariff")
    r.only(tariff, "tariff", ("currency", "base", "per_user", "per_cts", "ha"))
    priced = ("8x5", "24x7", "premium")

    def per_plan(field: str) -> dict[str, float]:
        table = r.table(tariff.get(field), f"tariff.{field}")
        r.only(table, f"tariff.{field}", PLANS)
        return {p: r.number(table.get(p, 0), f"tariff.{field}.{p}") for p in PLANS if p in table or p in priced}

    ha = r.table(tariff.get("ha"), "tariff.ha")
    r.only(ha, "tariff.ha", HA_SETUPS)
    currency = tariff.get("currency")
    if not isinstance(currency, str) or not currency.strip():
        raise r.fail("tariff.currency", currency, "a currency code like RUB")

    return Policy(
        calendars=calendars,
        plans=plans,
        repeat_every=r.duration(escalation.get("repeat_every"), "escalation.repeat_every"),
        max_repeats=max_repeats,
        shifts=shifts,
        priority_rules=priority_rules,
        tariff=Tariff(
            currency=currency.strip(),
            base=per_plan("base"),
            per_user=per_plan("per_user"),
            per_cts=r.number(tariff.get("per_cts"), "tariff.per_cts"),
            ha={k: r.number(ha.get(k), f"tariff.ha.{k}", positive=True) for k in HA_SETUPS},
        ),
    )


def _country_known(code: Any) -> bool:
    return isinstance(code, str) and code.upper() in country_codes()


@cache
def country_codes() -> frozenset[str]:
    """The country codes the installed `holidays` package knows, as its `EntityLoader.get_country_codes()`
    gives them, read from the source of its registry without importing the package: importing it runs its
    lunisolar calendars' tables (about 5 MB held for the life of the process, and at start enough new
    objects to set off a full garbage collection over aiogram's models, 0.15 s). The calendar imports the
    package, and its one country, at the first deadline that needs it. Should a new version write the
    registry otherwise, the package itself is asked."""
    spec = find_spec("holidays")
    if spec is None or spec.origin is None:
        raise ConfigError("not installed: holidays (the calendars' public holidays); install the project's "
                          "dependencies")
    try:
        tree = ast.parse(Path(spec.origin).with_name("registry.py").read_text("utf-8"))
        countries = next(ast.literal_eval(node.value) for node in tree.body
                         if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                         and node.target.id == "COUNTRIES" and node.value is not None)
        return frozenset(code for entity in countries.values() for code in entity[1:] if 2 <= len(code) <= 3)
    except (OSError, SyntaxError, ValueError, TypeError, AttributeError, StopIteration):
        from holidays.registry import EntityLoader

        return frozenset(EntityLoader.get_country_codes())


def format_hours(hours: tuple[tuple[int, int], ...]) -> str:
    return ",".join(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in hours)


def format_days(days: frozenset[int]) -> str:
    """{0,1,2,3,4} → "mon-fri"; runs of days are joined with a dash, runs with commas."""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(WEEKDAYS[r[0]] if len(r) == 1 else f"{WEEKDAYS[r[0]]}-{WEEKDAYS[r[-1]]}" for r in runs)
