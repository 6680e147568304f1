"""Settings: one typed object built once from the environment (and `.env`), validated at start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.express_settings import ExpressSettings, load_express
from bot.mail_settings import MailSettings, load_mail
from bot.max_settings import MaxSettings, load_max
from domain.durations import ALLOWED as DURATION_ALLOWED
from domain.durations import parse_positive_duration
from domain.errors import ConfigError
from domain.policy import Policy, load_policy
from domain.retention import SHORTEST as RETENTION_SHORTEST
from domain.retention import Retention

LANGS = ("ru", "en")
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")


@dataclass(frozen=True)
class Settings:
    bot_token: str
    telegram_api_url: str
    database_url: str
    lead_ids: frozenset[int]
    staff_chat_id: int | None
    timezone: ZoneInfo
    default_lang: str
    policy_file: str | None
    policy: Policy
    mode: str
    webhook_url: str | None
    webhook_secret: str | None
    web_host: str
    web_port: int
    scheduler_tick: timedelta
    thread_window: timedelta
    reopen_window: timedelta
    log_level: str
    retention: Retention = field(default_factory=Retention)
    # How long an update's handling may keep failing (transient errors, retried) before it is parked.
    park_after: timedelta = timedelta(minutes=3)
    mail: MailSettings | None = None  # None: e-mail is off (SPEC section 10)
    max: MaxSettings | None = None  # None: MAX is off (SPEC section 10)
    # The address the desk page's links use (sign-in, wallboard), without a trailing slash.
    web_public_url: str = "http://127.0.0.1:8080"
    express: ExpressSettings | None = None  # None: eXpress is off (SPEC section 10)
    # Webhook: how many connections Telegram may open at once (its default 40); updates of one conversation
    # are still handled one at a time (`domain.serial`), across instances too.
    webhook_connections: int = 40

    @property
    def secure_cookies(self) -> bool:
        return self.web_public_url.startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")


def _fail(name: str, value: str, allowed: str) -> ConfigError:
    shown = value if name != "BOT_TOKEN" else "<hidden>"
    return ConfigError(f"{name}={shown!r} is invalid; expected {allowed}")


def read_environment(env_file: str | Path = ".env") -> dict[str, str]:
    """The process environment over the `.env` file: a variable set in the environment wins."""
    values = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if Path(env_file).exists() else {}
    values.update(os.environ)
    return values


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = read_environment() if env is None else env

    def get(name: str, default: str = "") -> str:
        return env.get(name, default).strip()

    token = get("BOT_TOKEN")
    if not _TOKEN.match(token):
        raise _fail("BOT_TOKEN", token, "the token from @BotFather, like 123456:ABC-DEF…") if token else ConfigError(
            "BOT_TOKEN is not set; expected the token from @BotFather, like 123456:ABC-DEF…"
        )

    api_url = get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
    if urlparse(api_url).scheme not in ("http", "https") or not urlparse(api_url).netloc:
        raise _fail("TELEGRAM_API_URL", api_url, "an http(s) URL like https://api.telegram.org")

    database_url = get("DATABASE_URL", "sqlite://data/dutydesk.sqlite3")
    scheme = database_url.split("://", 1)[0]
    if "://" not in database_url or scheme not in ("sqlite", "postgres", "postgresql", "asyncpg"):
        raise _fail("DATABASE_URL", database_url, "sqlite://path or postgres://user:pass@host:port/db")

    lead_ids = set()
    for part in filter(None, (p.strip() for p in get("LEAD_IDS").split(","))):
        if not re.fullmatch(r"\d{1,15}", part):
            raise _fail("LEAD_IDS", get("LEAD_IDS"), "comma-separated Telegram user ids like 12345,67890")
        lead_ids.add(int(part))

    staff_chat = get("STAFF_CHAT_ID")
    if staff_chat and not re.fullmatch(r"-?\d{1,20}", staff_chat):
        raise _fail("STAFF_CHAT_ID", staff_chat, "a Telegram chat id like -1001234567890")

    tz_name = get("TIMEZONE", "Europe/Moscow")
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail("TIMEZONE", tz_name, "an IANA time zone like Europe/Moscow") from None

    lang = get("DEFAULT_LANG", "ru")
    if lang not in LANGS:
        raise _fail("DEFAULT_LANG", lang, "ru or en")

    mode = get("MODE", "polling")
    if mode not in ("polling", "webhook"):
        raise _fail("MODE", mode, "polling or webhook")
    webhook_url = get("WEBHOOK_URL") or None
    webhook_secret = get("WEBHOOK_SECRET") or None
    if webhook_secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", webhook_secret):
        raise ConfigError("WEBHOOK_SECRET is invalid; expected 1-256 characters of A-Z a-z 0-9 _ -")
    if mode == "webhook":
        if not webhook_url or urlparse(webhook_url).scheme != "https":
            raise _fail("WEBHOOK_URL", webhook_url or "", "the public https URL of the webhook in webhook mode")
        if not webhook_secret:
            raise ConfigError("WEBHOOK_SECRET is not set; it is required in webhook mode")

    connections = get("WEBHOOK_MAX_CONNECTIONS", "40")
    if not connections.isdigit() or not 1 <= int(connections) <= 100:
        raise _fail("WEBHOOK_MAX_CONNECTIONS", connections, "a whole number from 1 to 100 (Telegram's limits)")

    port = get("WEB_PORT", "8080")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _fail("WEB_PORT", port, "a TCP port from 1 to 65535")

    def duration(name: str, default: str) -> timedelta:
        value = get(name, default)
        try:
            return parse_positive_duration(value)
        except ValueError:
            raise _fail(name, value, DURATION_ALLOWED) from None

    log_level = get("LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise _fail("LOG_LEVEL", log_level, "DEBUG, INFO, WARNING, ERROR or CRITICAL")

    def retention(name: str, default: str) -> timedelta:
        value = get(name, default)
        try:
            kept = parse_positive_duration(value)
        except ValueError:
            kept = None
        if kept is None or kept < RETENTION_SHORTEST:
            raise _fail(name, value, "a duration of at least 1d, like 7d, 30d or 90d")
        return kept

    per_chat = get("UNBOUND_PER_CHAT", str(Retention.unbound_per_chat))
    if not per_chat.isdigit() or not 1 <= int(per_chat) <= 100_000:
        raise _fail("UNBOUND_PER_CHAT", per_chat, "a whole number from 1 to 100000")
    retained = Retention(
        outbox=retention("RETENTION_OUTBOX", "30d"),
        invitations=retention("RETENTION_INVITATIONS", "30d"),
        claims=retention("RETENTION_CLAIMS", "30d"),
        unbound=retention("RETENTION_UNBOUND", "30d"),
        unbound_per_chat=int(per_chat),
    )

    web_host = get("WEB_HOST", "127.0.0.1")
    public_url = (get("WEB_PUBLIC_URL") or f"http://{web_host}:{port}").rstrip("/")
    public = urlparse(public_url)
    # The pages live at /desk and /wallboard of this address (a path prefix would break their own links),
    # and every /desk answer carries it to the chat: no user or password in it (nor in this error).
    if (public.scheme not in ("http", "https") or not public.netloc or public.query or public.fragment
            or public.path or "@" in public.netloc or any(c.isspace() for c in public_url)):
        host = public.netloc.rsplit("@", 1)[-1]
        shown = public_url if "@" not in public.netloc else f"{public.scheme}://<hidden>@{host}"
        raise _fail("WEB_PUBLIC_URL", shown, "the http(s) address people open the desk page at, like "
                                             "https://desk.example.com (no path, user or password)")

    policy_file = get("POLICY_FILE") or None
    return Settings(
        bot_token=token,
        telegram_api_url=api_url,
        database_url=database_url,
        lead_ids=frozenset(lead_ids),
        staff_chat_id=int(staff_chat) if staff_chat else None,
        timezone=timezone,
        default_lang=lang,
        policy_file=policy_file,
        policy=load_policy(policy_file),
        mode=mode,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        web_host=web_host,
        web_port=int(port),
        scheduler_tick=duration("SCHEDULER_TICK", "15s"),
        thread_window=duration("THREAD_WINDOW", "4h"),
        reopen_window=duration("REOPEN_WINDOW", "72h"),
        log_level=log_level,
        retention=retained,
        park_after=duration("PARK_AFTER", "3m"),
        mail=load_mail(get),
        max=load_max(get, mode),
        web_public_url=public_url,
        express=load_express(get),
        webhook_connections=int(connections),
    )
