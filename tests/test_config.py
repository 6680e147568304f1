"""Settings and the policy file: defaults, merging, and one clear line for every bad value."""

from datetime import timedelta

import pytest

from bot.settings import load_settings
from domain.durations import format_duration, parse_duration
from domain.errors import ConfigError
from domain.policy import load_policy
from tests.stub_api import TOKEN

BASE = {"BOT_TOKEN": TOKEN}


def test_defaults():
    s = load_settings(BASE)
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.database_url == "sqlite://data/dutydesk.sqlite3"
    assert s.lead_ids == frozenset() and s.staff_chat_id is None
    assert s.timezone.key == "Europe/Moscow" and s.default_lang == "ru" and s.mode == "polling"
    assert (s.web_host, s.web_port) == ("127.0.0.1", 8080)
    assert s.scheduler_tick == timedelta(seconds=15)
    assert (s.thread_window, s.reopen_window) == (timedelta(hours=4), timedelta(hours=72))
    assert s.policy.plans["premium"].reaction["P1"] == timedelta(minutes=15)
    assert s.policy.plans["warranty"].reaction["P3"] == timedelta(hours=16)
    assert s.policy.plans["warranty"].ping is False
    assert s.policy.max_repeats == 3 and s.policy.repeat_every == timedelta(minutes=15)


def test_values_are_read():
    s = load_settings({**BASE, "LEAD_IDS": "1, 2,3", "STAFF_CHAT_ID": "-100123", "SCHEDULER_TICK": "1s",
                       "THREAD_WINDOW": "1h30m", "DEFAULT_LANG": "en", "MODE": "webhook",
                       "WEBHOOK_URL": "https://desk.example.com/telegram/webhook", "WEBHOOK_SECRET": "s3cr3t"})
    assert s.lead_ids == {1, 2, 3} and s.staff_chat_id == -100123
    assert s.scheduler_tick == timedelta(seconds=1) and s.thread_window == timedelta(minutes=90)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("BOT_TOKEN", "", "BOT_TOKEN is not set; expected the token from @BotFather, like 123456:ABC-DEF…"),
    ("BOT_TOKEN", "nonsense", "BOT_TOKEN='<hidden>' is invalid; expected the token from @BotFather, like 123456:ABC-DEF…"),
    ("TELEGRAM_API_URL", "ftp://x", "TELEGRAM_API_URL='ftp://x' is invalid; expected an http(s) URL like https://api.telegram.org"),
    ("DATABASE_URL", "mysql://x", "DATABASE_URL='mysql://x' is invalid; expected sqlite://path or postgres://user:pass@host:port/db"),
    ("LEAD_IDS", "1,bob", "LEAD_IDS='1,bob' is invalid; expected comma-separated Telegram user ids like 12345,67890"),
    ("STAFF_CHAT_ID", "staff", "STAFF_CHAT_ID='staff' is invalid; expected a Telegram chat id like -1001234567890"),
    ("TIMEZONE", "Mars/Base", "TIMEZONE='Mars/Base' is invalid; expected an IANA time zone like Europe/Moscow"),
    ("DEFAULT_LANG", "de", "DEFAULT_LANG='de' is invalid; expected ru or en"),
    ("MODE", "push", "MODE='push' is invalid; expected polling or webhook"),
    ("MODE", "webhook", "WEBHOOK_URL='' is invalid; expected the public https URL of the webhook in webhook mode"),
    ("WEB_PORT", "99999", "WEB_PORT='99999' is invalid; expected a TCP port from 1 to 65535"),
    ("SCHEDULER_TICK", "15", "SCHEDULER_TICK='15' is invalid; expected a positive duration like 30s, 15m, 4h, 7d or 1h30m"),
    ("THREAD_WINDOW", "0s", "THREAD_WINDOW='0s' is invalid; expected a positive duration like 30s, 15m, 4h, 7d or 1h30m"),
    ("REOPEN_WINDOW", "3 days", "REOPEN_WINDOW='3 days' is invalid; expected a positive duration like 30s, 15m, 4h, 7d or 1h30m"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD' is invalid; expected DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ("POLICY_FILE", "/no/such.toml", "POLICY_FILE=/no/such.toml: no such file; expected the path of a TOML policy file"),
])
def test_bad_environment_value(name, value, message):
    env = {**BASE, name: value} if name != "BOT_TOKEN" else {name: value}
    with pytest.raises(ConfigError) as exc:
        load_settings(env)
    assert str(exc.value) == message
    assert "\n" not in str(exc.value)


def test_webhook_mode_requires_secret():
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET is not set"):
        load_settings({**BASE, "MODE": "webhook", "WEBHOOK_URL": "https://x.example/hook"})


def test_env_file_is_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nLEAD_IDS=42\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("LEAD_IDS", raising=False)
    assert load_settings().lead_ids == {42}


def test_durations():
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    for bad in ("", "15", "1x", "h", "-5m", "1.5h"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"


def write(tmp_path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


def test_partial_policy_file_merges_over_defaults(tmp_path):
    policy = load_policy(write(tmp_path, '[plans.premium]\nreaction = { P1 = "20s" }\nremind_before = "10s"\n'))
    assert policy.plans["premium"].reaction["P1"] == timedelta(seconds=20)
    assert policy.plans["premium"].reaction["P2"] == timedelta(minutes=15)  # kept from the defaults
    assert policy.plans["premium"].remind_before == timedelta(seconds=10)
    assert policy.plans["24x7"].reaction["P1"] == timedelta(hours=1)
    assert policy.calendars["business"].hours == ((600, 1140),)


@pytest.mark.parametrize(("text", "message"), [
    ('[plans.premium]\nremind_before = "soon"',
     "plans.premium.remind_before = 'soon' is invalid; expected a positive duration like 30s, 15m, 4h, 7d or 1h30m"),
    ('[plans.premium]\nreaction = { P5 = "1h" }',
     "plans.premium.reaction.P5 = '1h' is invalid; expected one of the keys P1, P2, P3, P4"),
    ('[plans.gold]\ncalendar = "always"',
     "plans.gold = {'calendar': 'always'} is invalid; expected one of the keys warranty, 8x5, 24x7, premium"),
    ('[plans.8x5]\ncalendar = "lunar"', "plans.8x5.calendar = 'lunar' is invalid; expected one of the calendars business, always"),
    ('[plans.8x5]\nping = "yes"', "plans.8x5.ping = 'yes' is invalid; expected true or false"),
    ('[calendars.business]\nhours = "10:00-13:00,12:00-19:00"',
     "calendars.business.hours = '10:00-13:00,12:00-19:00' is invalid; expected non-overlapping ranges like "
     '"10:00-19:00" or "10:00-13:00,14:00-19:00"'),
    ('[calendars.business]\nhours = "19:00-10:00"',
     "calendars.business.hours = '19:00-10:00' is invalid; expected non-overlapping ranges like "
     '"10:00-19:00" or "10:00-13:00,14:00-19:00"'),
    ('[calendars.business]\ntimezone = "Moscow"',
     "calendars.business.timezone = 'Moscow' is invalid; expected an IANA time zone like Europe/Moscow"),
    ('[calendars.business]\ndays = "weekdays"',
     "calendars.business.days = 'weekdays' is invalid; expected days like \"mon-fri\", \"mon-sun\" or \"mon,wed,fri\""),
    ('[calendars.business]\nextra_holidays = ["31.12.2026"]',
     "calendars.business.extra_holidays = '31.12.2026' is invalid; expected a date YYYY-MM-DD"),
    ('[escalation]\nmax_repeats = -1', "escalation.max_repeats = -1 is invalid; expected a whole number from 0 to 100"),
    ('[shifts.day]\nstart = "25:00"', "shifts.day.start = '25:00' is invalid; expected a time HH:MM"),
    ('[priority_rules]\nP1 = "down"', "priority_rules.P1 = 'down' is invalid; expected a list of non-empty phrases"),
    ('[priority_rules]\nP1 = ["*"]', "priority_rules.P1 = '*' is invalid; expected whole words, where a word may "
                                     "end in * to match words that start with it"),
    ('[priority_rules]\nP2 = ["crash*es"]', "priority_rules.P2 = 'crash*es' is invalid; expected whole words, where a "
                                           "word may end in * to match words that start with it"),
    ('[tariff]\nper_cts = -5', "tariff.per_cts = -5 is invalid; expected a number >= 0"),
    ('[tariff.ha]\ncluster = 0', "tariff.ha.cluster = 0 is invalid; expected a positive number"),
    ("colour = 'red'", "colour = 'red' is invalid; expected one of the keys calendars, plans, escalation, shifts, "
                       "priority_rules, tariff"),
])
def test_bad_policy_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_policy(path)
    assert str(exc.value) == f"{path}: {message}"


def test_policy_file_that_is_not_toml(tmp_path):
    path = write(tmp_path, "[plans\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_policy(path)


def test_bad_value_in_env_file(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nDEFAULT_LANG=fr\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEFAULT_LANG", raising=False)
    with pytest.raises(ConfigError, match=r"^DEFAULT_LANG='fr' is invalid; expected ru or en$"):
        load_settings()


def test_webhook_connections():
    """Telegram may open its default 40 webhook connections unless told otherwise (1 to 100)."""
    assert load_settings(BASE).webhook_connections == 40
    assert load_settings({**BASE, "WEBHOOK_MAX_CONNECTIONS": "8"}).webhook_connections == 8
    for bad in ("0", "101", "many"):
        with pytest.raises(ConfigError) as exc:
            load_settings({**BASE, "WEBHOOK_MAX_CONNECTIONS": bad})
        assert str(exc.value) == (f"WEBHOOK_MAX_CONNECTIONS={bad!r} is invalid; expected a whole number from 1 to "
                                  "100 (Telegram's limits)")
