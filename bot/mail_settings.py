"""E-mail settings (SPEC section 10): `MAIL_IMAP_URL`, `MAIL_SMTP_URL`, `MAIL_FROM` and two tunables.

E-mail is off until the three are set; setting only some of them is a mistake worth stopping for. A bad
value is reported with its password masked, so the one line at start can be pasted anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.headerregistry import Address
from email.utils import formataddr, parseaddr
from urllib.parse import unquote, urlsplit

from domain.durations import ALLOWED as DURATION_ALLOWED
from domain.durations import parse_positive_duration
from domain.errors import ConfigError

IMAP_SCHEMES = {"imaps": 993, "imap": 143}
SMTP_SCHEMES = {"smtps": 465, "smtp+starttls": 587, "smtp": 25}
IMAP_ALLOWED = "imaps://user:password@host:993/INBOX (imap://… for a local server without TLS)"
SMTP_ALLOWED = "smtps://user:password@host:465, smtp+starttls://user:password@host:587 or smtp://host:25 locally"
FROM_ALLOWED = "a sender like Support <support@vendor.example>"
SIZE_ALLOWED = "a size from 64K to 1G, like 500K, 25M or 1G"
_SIZE = re.compile(r"^(\d{1,10})([KMG]?)B?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_USERINFO_PASSWORD = re.compile(r"(://[^/@:]*:)[^@/]*@")


def masked(url: str) -> str:
    """The URL with its password replaced: what may be shown in an error line or a log."""
    return _USERINFO_PASSWORD.sub(r"\1***@", url)


@dataclass(frozen=True)
class MailServer:
    scheme: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)  # never in a repr, so never in a log line that prints the settings
    mailbox: str = "INBOX"  # IMAP only

    @property
    def tls(self) -> bool:
        """TLS from the first byte (imaps, smtps)."""
        return self.scheme in ("imaps", "smtps")

    @property
    def starttls(self) -> bool:
        return self.scheme == "smtp+starttls"

    def shown(self) -> str:
        auth = f"{self.user}:***@" if self.user else ""
        return f"{self.scheme}://{auth}{self.host}:{self.port}" + (f"/{self.mailbox}" if self.scheme.startswith(
            "imap") else "")


@dataclass(frozen=True)
class MailSettings:
    imap: MailServer
    smtp: MailServer
    sender: str  # the From header: `Support <support@vendor.example>`
    address: str  # the desk's own address, lower-case: never answered (a loop)
    max_size: int = 25 * 1024**2  # bytes: a bigger mail is acknowledged and kept on the server, not fetched
    poll: timedelta = timedelta(seconds=60)  # how often to look when the server cannot IDLE

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    def secrets(self) -> list[str]:
        return [p for p in (self.imap.password, self.smtp.password) if p]


def _server(name: str, value: str, schemes: dict[str, int], allowed: str, imap: bool) -> MailServer:
    def bad() -> ConfigError:
        return ConfigError(f"{name}={masked(value)!r} is invalid; expected {allowed}")

    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise bad() from None
    if parts.scheme not in schemes or not parts.hostname or parts.query or parts.fragment:
        raise bad()
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    # IMAP always logs in; a local SMTP sink may take mail without a login, but half a login is a typo.
    if (imap and not (user and password)) or bool(user) != bool(password):
        raise bad()
    if not imap and parts.path.strip("/"):
        raise bad()  # an SMTP URL has no path
    mailbox = unquote(parts.path.strip("/")) or "INBOX"
    return MailServer(parts.scheme, parts.hostname, port or schemes[parts.scheme], user, password, mailbox)


def _sender(value: str) -> tuple[str, str]:
    name, addr = parseaddr(value)
    try:
        address = Address(addr_spec=addr)
    except (ValueError, IndexError):
        address = None
    if not address or not address.username or "." not in address.domain or not addr or " " in addr:
        raise ConfigError(f"MAIL_FROM={value!r} is invalid; expected {FROM_ALLOWED}")
    return formataddr((name, addr)), addr.lower()


def _size(value: str) -> int:
    match = _SIZE.match(value)
    size = int(match[1]) * _UNITS[match[2].upper()] if match else 0
    if not 64 * 1024 <= size <= 1024**3:
        raise ConfigError(f"MAIL_MAX_SIZE={value!r} is invalid; expected {SIZE_ALLOWED}")
    return size


def load_mail(get: Callable[[str], str]) -> MailSettings | None:
    """The e-mail settings, or None when e-mail is off (none of the three set)."""
    required = ("MAIL_IMAP_URL", "MAIL_SMTP_URL", "MAIL_FROM")
    present = [name for name in required if get(name)]
    if not present:
        return None
    for name in required:
        if not get(name):
            raise ConfigError(f"{name} is not set; e-mail needs MAIL_IMAP_URL, MAIL_SMTP_URL and MAIL_FROM "
                              f"together ({', '.join(present)} is set)")
    imap = _server("MAIL_IMAP_URL", get("MAIL_IMAP_URL"), IMAP_SCHEMES, IMAP_ALLOWED, imap=True)
    smtp = _server("MAIL_SMTP_URL", get("MAIL_SMTP_URL"), SMTP_SCHEMES, SMTP_ALLOWED, imap=False)
    sender, address = _sender(get("MAIL_FROM"))
    poll = get("MAIL_POLL") or "60s"
    try:
        poll_every = parse_positive_duration(poll)
    except ValueError:
        raise ConfigError(f"MAIL_POLL={poll!r} is invalid; expected {DURATION_ALLOWED}") from None
    return MailSettings(imap, smtp, sender, address, _size(get("MAIL_MAX_SIZE") or "25M"), poll_every)
