"""Numbers, money, durations and moments as people write them, in the reader's language.

Durations in words («14 мин», «1 ч 10 мин»; "14 min", "1 h 10 min"), a decimal comma in Russian, the
currency's sign («150 000 ₽»), and moments relative to today («сегодня 14:52 МСК», «завтра 10:00 МСК»,
«пн 30.11 10:00 МСК», a full date only beyond a week) with zones labelled as Russian business does
(МСК, МСК+2; UTC+1 abroad). Shared by the handlers and the scheduler.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.core import get_global
from babel.numbers import format_decimal, get_currency_symbol

from locales import t

MOSCOW = ZoneInfo("Europe/Moscow")
WEEK = timedelta(days=7)


def duration(lang: str, delta: timedelta) -> str:
    """The two largest units in words; seconds only under ten minutes (second-scale SLAs are real in
    staging), whole minutes above."""
    seconds = abs(int(delta.total_seconds()))
    if seconds >= 600:
        seconds -= seconds % 60
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            parts.append(t(lang, f"words.unit.{unit}", count=seconds // size))
            seconds %= size
    return " ".join(parts[:2]) or t(lang, "words.unit.s", count=0)


def time_left(lang: str, deadline: datetime | None, now: datetime) -> str:
    if deadline is None:
        return "—"
    if deadline > now:
        return t(lang, "time.left", left=duration(lang, deadline - now))
    return t(lang, "time.overdue", by=duration(lang, now - deadline))


def number(lang: str, value: float, digits: int = 1) -> str:
    """`4,2` in Russian, `4.2` in English; thousands grouped."""
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=lang)


def money(lang: str, amount: float, currency: str) -> str:
    """`150 000 ₽` / `150,000 ₽`: English CLDR writes the code (RUB) where every reader knows the sign, so
    the sign of the currency's home language is taken then."""
    symbol = get_currency_symbol(currency, lang)
    if symbol == currency:
        symbol = get_currency_symbol(currency, "ru") if currency == "RUB" else currency
    return f"{format_decimal(round(amount), format='#,##0', locale=lang)}\u00a0{symbol}"


def zone_label(lang: str, zone: ZoneInfo, at: datetime) -> str:
    """МСК, МСК+2, МСК−1 for Russia's zones; UTC, UTC+1, UTC+5:30 elsewhere."""
    offset = at.astimezone(zone).utcoffset() or timedelta(0)
    if get_global("zone_territories").get(zone.key) == "RU":
        base, offset = t(lang, "words.zone.msk"), offset - (at.astimezone(MOSCOW).utcoffset() or timedelta(0))
    else:
        base = "UTC"
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return base
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"{base}{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _weekday(lang: str, moment: datetime) -> str:
    return t(lang, f"words.weekday.{moment.weekday()}")


def day(lang: str, moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    """«сегодня», «завтра», «вчера», «пн 30.11» within a week, «30.11.2026» beyond."""
    here, today = moment.astimezone(zone), now.astimezone(zone)
    days = (here.date() - today.date()).days
    if days in (-1, 0, 1):
        return t(lang, f"words.day.{days + 1}")
    if abs(days) < 7:
        return f"{_weekday(lang, here)} {here:%d.%m}"
    return f"{here:%d.%m.%Y}"


def local(moment: datetime | None, zone: ZoneInfo, now: datetime | None = None, with_zone: bool = False,
          lang: str = "ru") -> str:
    """A moment for a person: «сегодня 14:52 МСК». Without `now` (no reference day at hand), the date
    with its year."""
    if moment is None:
        return "—"
    here = moment.astimezone(zone)
    text = f"{day(lang, moment, zone, now)} {here:%H:%M}" if now is not None else f"{here:%d.%m.%Y %H:%M}"
    return f"{text} {zone_label(lang, zone, moment)}" if with_zone else text


def when(lang: str, moment: datetime | None, zone: ZoneInfo, now: datetime) -> str:
    """A moment with its zone label, relative to today: the form every pushed message uses."""
    return local(moment, zone, now, with_zone=True, lang=lang)


def moment(at: datetime, zone: ZoneInfo) -> str:
    """«26.11 10:00»: a day and a time, where a list of them would read worse with «сегодня»."""
    return f"{at.astimezone(zone):%d.%m %H:%M}"


def span(lang: str, start: datetime, end: datetime, zone: ZoneInfo, with_zone: bool = False) -> str:
    """«26.11 10:00–19:00» within a day, «26.11 19:00 – 27.11 10:00» across midnight."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    text = f"{a:%d.%m %H:%M}–{b:%H:%M}" if a.date() == b.date() else f"{a:%d.%m %H:%M} – {b:%d.%m %H:%M}"
    return f"{text} {zone_label(lang, zone, start)}" if with_zone else text

def date(value) -> str:
    """A calendar date (a contract's end, a holiday): «30.06.2027»."""
    return f"{value:%d.%m.%Y}" if value else "—"


def zone_name(lang: str, zone: ZoneInfo, now: datetime) -> str:
    """For a lead who set the zone: the label and the IANA name, «МСК (Europe/Moscow)»."""
    return f"{zone_label(lang, zone, now)} ({zone.key})"


def hours(spans: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(f"{a // 60:02d}:{a % 60:02d}–{b // 60:02d}:{b % 60:02d}" for a, b in spans)


def weekdays(lang: str, days: frozenset[int]) -> str:
    """{0…4} → «пн–пт»; every day → «ежедневно»."""
    if len(days) == 7:
        return t(lang, "words.days_all")
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    name = lambda d: t(lang, f"words.weekday.{d}")  # noqa: E731
    return ", ".join(name(r[0]) if len(r) == 1 else f"{name(r[0])}–{name(r[-1])}" for r in runs)


def targets(lang: str, reaction: dict[str, timedelta]) -> str:
    """Reaction targets per priority, equal ones together: «P1–P4: 15 мин» or «P1, P2: 8 ч; P3, P4: 16 ч»."""
    groups: dict[timedelta, list[str]] = {}
    for priority, target in reaction.items():
        groups.setdefault(target, []).append(priority)
    if len(groups) == 1 and len(reaction) > 2:
        (target, names), = groups.items()
        return f"{names[0]}–{names[-1]}: {duration(lang, target)}"
    return "; ".join(f"{', '.join(names)}: {duration(lang, target)}" for target, names in groups.items())
