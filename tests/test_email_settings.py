"""E-mail settings: off until set, read when set, one line naming the key for a bad value, never the password."""

import subprocess
import sys
from datetime import timedelta

import pytest

from bot.settings import load_settings
from domain.errors import ConfigError
from tests.stub_api import TOKEN

BASE = {"BOT_TOKEN": TOKEN}
MAIL = {"MAIL_IMAP_URL": "imaps://desk%40acme.example:p%40ss-w0rd@imap.vendor.example/Support%20Inbox",
        "MAIL_SMTP_URL": "smtp+starttls://desk:p%40ss-w0rd@smtp.vendor.example",
        "MAIL_FROM": "Vendor Support <Support@Vendor.example>"}


def test_mail_is_off_until_set():
    assert load_settings(BASE).mail is None


def test_mail_settings_are_read():
    mail = load_settings({**BASE, **MAIL}).mail
    assert (mail.imap.scheme, mail.imap.host, mail.imap.port) == ("imaps", "imap.vendor.example", 993)
    assert (mail.imap.user, mail.imap.password, mail.imap.mailbox) == ("desk@acme.example", "p@ss-w0rd", "Support Inbox")
    assert mail.imap.tls and not mail.smtp.tls and mail.smtp.starttls
    assert (mail.smtp.host, mail.smtp.port, mail.smtp.user) == ("smtp.vendor.example", 587, "desk")
    assert mail.sender == "Vendor Support <Support@Vendor.example>" and mail.address == "support@vendor.example"
    assert mail.domain == "vendor.example"
    assert mail.max_size == 25 * 1024 * 1024 and mail.poll == timedelta(seconds=60)
    assert "p@ss-w0rd" not in repr(mail) and "p@ss-w0rd" not in mail.imap.shown()


@pytest.mark.parametrize(("url", "port", "tls"), [
    ("imap://desk:pw@127.0.0.1:1143", 1143, False), ("imaps://desk:pw@mail.example", 993, True),
    ("imap://desk:pw@mail.example", 143, False)])
def test_imap_schemes(url, port, tls):
    mail = load_settings({**BASE, **MAIL, "MAIL_IMAP_URL": url}).mail
    assert (mail.imap.port, mail.imap.tls, mail.imap.mailbox) == (port, tls, "INBOX")


@pytest.mark.parametrize(("url", "port", "tls", "starttls"), [
    ("smtps://u:p@smtp.example", 465, True, False), ("smtp+starttls://u:p@smtp.example", 587, False, True),
    ("smtp://127.0.0.1:2525", 2525, False, False)])
def test_smtp_schemes(url, port, tls, starttls):
    mail = load_settings({**BASE, **MAIL, "MAIL_SMTP_URL": url}).mail
    assert (mail.smtp.port, mail.smtp.tls, mail.smtp.starttls) == (port, tls, starttls)


def test_tunables():
    mail = load_settings({**BASE, **MAIL, "MAIL_MAX_SIZE": "500K", "MAIL_POLL": "2s"}).mail
    assert mail.max_size == 500 * 1024 and mail.poll == timedelta(seconds=2)


IMAP_ALLOWED = "expected imaps://user:password@host:993/INBOX (imap://… for a local server without TLS)"
SMTP_ALLOWED = ("expected smtps://user:password@host:465, smtp+starttls://user:password@host:587 "
                "or smtp://host:25 locally")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MAIL_IMAP_URL", "pop3://desk:hunter22@mail.example", f"MAIL_IMAP_URL='pop3://desk:***@mail.example' is invalid; {IMAP_ALLOWED}"),
    ("MAIL_IMAP_URL", "imaps://mail.example/INBOX", f"MAIL_IMAP_URL='imaps://mail.example/INBOX' is invalid; {IMAP_ALLOWED}"),
    ("MAIL_IMAP_URL", "imaps://desk:hunter22@mail.example:99999", f"MAIL_IMAP_URL='imaps://desk:***@mail.example:99999' is invalid; {IMAP_ALLOWED}"),
    ("MAIL_IMAP_URL", "imaps://desk:hunter22@/INBOX", f"MAIL_IMAP_URL='imaps://desk:***@/INBOX' is invalid; {IMAP_ALLOWED}"),
    ("MAIL_SMTP_URL", "smtp+tls://u:hunter22@smtp.example", f"MAIL_SMTP_URL='smtp+tls://u:***@smtp.example' is invalid; {SMTP_ALLOWED}"),
    ("MAIL_SMTP_URL", "smtps://u@smtp.example", f"MAIL_SMTP_URL='smtps://u@smtp.example' is invalid; {SMTP_ALLOWED}"),
    ("MAIL_SMTP_URL", "smtps://u:hunter22@smtp.example/x", f"MAIL_SMTP_URL='smtps://u:***@smtp.example/x' is invalid; {SMTP_ALLOWED}"),
    ("MAIL_FROM", "Support", "MAIL_FROM='Support' is invalid; expected a sender like Support <support@vendor.example>"),
    ("MAIL_FROM", "Support <support@localhost>", "MAIL_FROM='Support <support@localhost>' is invalid; expected a sender like Support <support@vendor.example>"),
    ("MAIL_MAX_SIZE", "lots", "MAIL_MAX_SIZE='lots' is invalid; expected a size from 64K to 1G, like 500K, 25M or 1G"),
    ("MAIL_MAX_SIZE", "2G", "MAIL_MAX_SIZE='2G' is invalid; expected a size from 64K to 1G, like 500K, 25M or 1G"),
    ("MAIL_POLL", "often", "MAIL_POLL='often' is invalid; expected a positive duration like 30s, 15m, 4h, 7d or 1h30m"),
])
def test_bad_mail_value(name, value, message):
    with pytest.raises(ConfigError) as exc:
        load_settings({**BASE, **MAIL, name: value})
    assert str(exc.value) == message
    assert "hunter22" not in str(exc.value)


@pytest.mark.parametrize("missing", ["MAIL_IMAP_URL", "MAIL_SMTP_URL", "MAIL_FROM"])
def test_mail_needs_all_three(missing):
    env = {**BASE, **MAIL}
    del env[missing]
    with pytest.raises(ConfigError) as exc:
        load_settings(env)
    assert str(exc.value).startswith(f"{missing} is not set; e-mail needs MAIL_IMAP_URL, MAIL_SMTP_URL and MAIL_FROM")


def test_check_config_names_the_key_and_hides_the_password():
    env = {"BOT_TOKEN": TOKEN, "PATH": "/usr/bin:/bin", **MAIL, "MAIL_IMAP_URL": "imapx://desk:hunter22@mail.example"}
    done = subprocess.run([sys.executable, "-m", "bot", "check-config"], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: MAIL_IMAP_URL='imapx://desk:***@mail.example'")
    assert "hunter22" not in done.stderr + done.stdout


def test_every_mail_variable_is_in_the_example_env():
    from pathlib import Path

    example = (Path(__file__).resolve().parent.parent / "config.example.env").read_text()
    for name in ("MAIL_IMAP_URL", "MAIL_SMTP_URL", "MAIL_FROM", "MAIL_MAX_SIZE", "MAIL_POLL"):
        assert f"\n{name}=" in example, name
