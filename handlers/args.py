"""Command arguments: splitting them (a wrong count is answered with the command's usage line) and reading
the typed values the domain takes (moments, periods, customer fields). Domain code parses no command syntax."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from domain import oncall, reports
from domain.durations import parse_positive_duration
from domain.errors import DeskError, Named
from domain.text import clean


def args_of(command: CommandObject) -> str:
    """The command's argument text, storable as it is (see domain.text)."""
    return clean(command.args or "")


def split(command: CommandObject, minimum: int, maximum: int | None = None, *, rest: bool = False) -> list[str]:
    """Words of the command's arguments.

    With `rest`, the last argument takes the remainder of the line (names, texts), so `maximum` words
    are returned at most and the last may contain spaces.
    """
    text = args_of(command).strip()
    words = text.split(maxsplit=maximum - 1) if rest and maximum else text.split()
    if len(words) < minimum or (maximum is not None and len(words) > maximum):
        raise DeskError(f"usage.{command.command.lower()}")
    return words


def looks_like_command(message: Message) -> bool:
    """A router of commands only filters on this first: one check per message instead of one per command.
    A forwarded message is no command (the permission gate in handlers/middlewares.py says the same)."""
    return message.forward_origin is None and (message.text or message.caption or "").startswith("/")


def cmd(name: str) -> Command:
    """A command filter that accepts any letter case and `@botusername`."""
    return Command(name, ignore_case=True)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_range(words: list[str], now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """An override's time range: `now 12h`, `now 2026-03-16 22:00`, `2026-03-16 10:00 90m`,
    `2026-03-16 10:00 2026-03-17 10:00` (moments in `zone`); checked by `domain.oncall.check_range`."""
    def moment(parts: list[str]) -> datetime:
        try:
            day = date.fromisoformat(parts[0])
            hours, minutes = parts[1].split(":")
            return datetime.combine(day, time(int(hours), int(minutes)), zone).astimezone(UTC)
        except (ValueError, IndexError):
            raise DeskError("err.bad_moment", value=" ".join(parts)) from None

    if not words:
        raise DeskError("usage.override")
    if words[0].lower() == "now":
        start, rest = now, words[1:]
    elif _DATE.match(words[0]) and len(words) >= 2:
        start, rest = moment(words[:2]), words[2:]
    else:
        raise DeskError("err.bad_moment", value=words[0])
    if len(rest) == 1:
        try:
            end = start + parse_positive_duration(rest[0])
        except ValueError:
            raise DeskError("err.bad_moment", value=rest[0]) from None
    elif len(rest) == 2:
        end = moment(rest)
    else:
        raise DeskError("usage.override")
    oncall.check_range(start, end, now)
    return start, end


def parse_period(words: list[str], now: datetime, zone: ZoneInfo) -> reports.Period:
    """A report's period: `week`, `month` (also no words) or `quarter` for the last full one, `YYYY-MM` for
    that month, `YYYY-MM-DD YYYY-MM-DD` for those days, both included (see `domain.reports`)."""
    today = now.astimezone(zone).date()
    if not words:
        return reports.previous("month", today, zone)
    if len(words) == 1 and words[0].lower() in reports.UNITS:
        return reports.previous(words[0].lower(), today, zone)
    try:
        if len(words) == 1 and re.fullmatch(r"\d{4}-\d{2}", words[0]):
            return reports.month(date.fromisoformat(words[0] + "-01"), zone)
        if len(words) == 2:
            return reports.days(date.fromisoformat(words[0]), date.fromisoformat(words[1]), zone)
    except ValueError:
        pass
    raise DeskError("err.bad_period", value=" ".join(words))


CLEAR = ("-", "none")  # `/customer_set CODE contract_until -`: no value


def customer_value(field: str, text: str) -> object:
    """The typed value of `/customer_set CODE FIELD VALUE` that `domain.customers.set_field` takes: whole
    numbers, a time zone, a date, or None for a cleared field; other fields stay text (the domain checks
    them against its choices)."""
    if field in ("users", "cts"):
        if not re.fullmatch(r"\d{1,9}", text):
            raise DeskError("err.bad_number", field=field, value=text)
        return int(text)
    if field == "tz":
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise DeskError("err.bad_tz", value=text) from None
    if field in ("contract_until", "engineer", "contact") and text.lower() in CLEAR:
        return None
    if field == "contract_until":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise DeskError("err.bad_date", value=text) from None
    return text


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}[a-z0-9]$")
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


def email_binding(text: str) -> tuple[str, str]:
    """What `/customer_set CODE email …` binds: a full address (`ivan@acme.ru`, kind "address") or a whole
    domain (`acme.ru` or `@acme.ru`, kind "domain"), lower-case."""
    value = text.strip().lower().removeprefix("@")
    local, at, domain = value.rpartition("@")
    bad = DeskError("email.bad_address", value=text.strip())
    if not _DOMAIN.match(domain):
        raise bad
    if not at:
        return domain, "domain"
    if not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise bad
    return value, "address"


_CHAT_ID = re.compile(r"^-?\d{1,20}$")


def conversation_refs(channel: str, text: str, express_bots: tuple[str, ...] = ()) -> list[str]:
    """A conversation's address typed as `/customer CODE` and `/unbound` show it, checked for its channel's
    shape and written as the desk stores it: a Telegram or MAX chat id (a whole number), an e-mail address
    or domain (lower-case), an eXpress chat (`BOT-UUID:CHAT-UUID`, as the bot and the chat it is in). An
    eXpress chat's UUID alone stands for that chat under any of `express_bots`: one address per bot."""
    value = text.strip()
    bad = DeskError("unbind.bad_ref", channel=Named("desk.channel", channel), ref=value,
                    usage=Named("usage", "unbind"))
    if channel == "email":
        try:
            return [email_binding(value)[0]]
        except DeskError:
            raise bad from None
    if channel == "express":
        bot, colon, chat = value.rpartition(":")
        try:
            if colon:
                return [f"{UUID(bot)}:{UUID(chat)}"]
            return [f"{UUID(b)}:{UUID(chat)}" for b in express_bots] or [f"{UUID(chat)}"]
        except ValueError:
            raise bad from None
    if _CHAT_ID.match(value):
        return [str(int(value))]
    raise bad
