"""eXpress settings (SPEC section 10): `EXPRESS_BOT_ID`, `EXPRESS_CTS_URL`, `EXPRESS_SECRET_KEY`.

eXpress is off until the three are set. Each customer may run their own CTS server, and a bot is
registered on each one separately (its own id and secret key there), so each setting is a comma-separated
list and the n-th entries of the three lists describe the n-th server:

    EXPRESS_BOT_ID=8f0a…,1c2d…
    EXPRESS_CTS_URL=https://cts.acme.ru,https://express.beta.example
    EXPRESS_SECRET_KEY=secret-at-acme,secret-at-beta

A bad value stops the bot with one line naming the key and what is allowed; a secret key is never shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from uuid import UUID

from domain.errors import ConfigError

KEYS = ("EXPRESS_BOT_ID", "EXPRESS_CTS_URL", "EXPRESS_SECRET_KEY")
ID_ALLOWED = "the bot's id from the CTS admin panel, a UUID like 8f0a1b2c-3d4e-5f60-7182-93a4b5c6d7e8"
URL_ALLOWED = "the CTS server's address, like https://cts.example.ru (http(s), no path, user or password)"
SECRET_ALLOWED = "the bot's secret key from the CTS admin panel (no spaces or commas)"
_SECRET = re.compile(r"^[^\s,]{1,256}$")


@dataclass(frozen=True)
class ExpressAccount:
    """The bot as registered on one CTS server."""

    bot_id: UUID
    cts_url: str  # without a trailing slash
    secret_key: str = field(repr=False)  # never in a repr, so never in a log line that prints the settings

    @property
    def host(self) -> str:
        return urlsplit(self.cts_url).hostname or ""


@dataclass(frozen=True)
class ExpressSettings:
    accounts: tuple[ExpressAccount, ...]

    def secrets(self) -> list[str]:
        return [account.secret_key for account in self.accounts]


def _entries(name: str, value: str) -> list[str]:
    return [part.strip() for part in value.split(",")]


def _bot_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ConfigError(f"EXPRESS_BOT_ID={value!r} is invalid; expected {ID_ALLOWED}") from None


def _cts_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username
            or parts.password or parts.path.strip("/") or parts.query or parts.fragment):
        shown = value if parts is None or "@" not in parts.netloc else "<hidden>"
        raise ConfigError(f"EXPRESS_CTS_URL={shown!r} is invalid; expected {URL_ALLOWED}")
    return value.rstrip("/")


def load_express(get: Callable[[str], str]) -> ExpressSettings | None:
    """The eXpress settings, or None when eXpress is off (none of the three set)."""
    present = [name for name in KEYS if get(name)]
    if not present:
        return None
    for name in KEYS:
        if not get(name):
            raise ConfigError(f"{name} is not set; eXpress needs {', '.join(KEYS)} together "
                              f"({', '.join(present)} is set)")
    ids, urls, secrets = (_entries(name, get(name)) for name in KEYS)
    if not len(ids) == len(urls) == len(secrets):
        raise ConfigError(f"EXPRESS_BOT_ID, EXPRESS_CTS_URL and EXPRESS_SECRET_KEY list {len(ids)}, {len(urls)} and "
                          f"{len(secrets)} entries; expected one per CTS server in each, comma-separated, in the "
                          "same order")
    accounts = []
    for number, (bot_id, url, secret) in enumerate(zip(ids, urls, secrets, strict=True), start=1):
        if not _SECRET.match(secret):
            raise ConfigError(f"EXPRESS_SECRET_KEY entry {number} is invalid; expected {SECRET_ALLOWED}")
        accounts.append(ExpressAccount(_bot_id(bot_id), _cts_url(url), secret))
    if len({account.bot_id for account in accounts}) != len(accounts):
        raise ConfigError("EXPRESS_BOT_ID names the same bot twice; expected one id per CTS server")
    return ExpressSettings(tuple(accounts))
