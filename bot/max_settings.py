"""MAX settings (SPEC section 10): `MAX_BOT_TOKEN`, and for webhook mode `MAX_WEBHOOK_URL` and
`MAX_WEBHOOK_SECRET`; `MAX_API_URL` for a stand-in. MAX is off until the token is set. A bad value stops the
bot with one line naming the key; the token itself is never shown."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

from domain.errors import ConfigError

API_URL = "https://platform-api2.max.ru"  # the address MAX's documentation gives bots
WEBHOOK_PATH = "/max/webhook"
# What MAX's tokens are made of (the platform shows a long string of letters, digits, `-` and `_`).
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{16,512}$")
# MAX's own rule for the webhook secret: 5-256 of A-Z a-z 0-9 and the hyphen.
_SECRET = re.compile(r"^[A-Za-z0-9-]{5,256}$")


@dataclass(frozen=True)
class MaxSettings:
    token: str = field(repr=False)  # never in a repr, so never in a log line that prints the settings
    api_url: str = API_URL
    webhook_url: str | None = None  # webhook mode: the public https address MAX posts updates to
    webhook_secret: str | None = field(default=None, repr=False)

    def secrets(self) -> list[str]:
        return [s for s in (self.token, self.webhook_secret) if s]


def load_max(get: Callable[[str], str], mode: str) -> MaxSettings | None:
    """The MAX settings, or None when MAX is off (no token)."""
    token = get("MAX_BOT_TOKEN")
    if not token:
        return None
    if not _TOKEN.match(token):
        raise ConfigError("MAX_BOT_TOKEN='<hidden>' is invalid; expected the bot's token from the MAX partner "
                          "platform (business.max.ru: Chat bots → ⋮ → Settings), 16-512 letters, digits, - and _")
    api_url = (get("MAX_API_URL") or API_URL).rstrip("/")
    parts = urlparse(api_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc or parts.query:
        raise ConfigError(f"MAX_API_URL={api_url!r} is invalid; expected an http(s) URL like {API_URL}")
    if mode != "webhook":
        return MaxSettings(token, api_url)
    url = get("MAX_WEBHOOK_URL")
    parts = urlparse(url)
    if parts.scheme != "https" or not parts.netloc or not parts.path.endswith(WEBHOOK_PATH) or parts.query:
        raise ConfigError(f"MAX_WEBHOOK_URL={url!r} is invalid; expected the public https URL of the MAX webhook "
                          f"in webhook mode, ending in {WEBHOOK_PATH}")
    secret = get("MAX_WEBHOOK_SECRET")
    if not _SECRET.match(secret):
        raise ConfigError(("MAX_WEBHOOK_SECRET is invalid" if secret else "MAX_WEBHOOK_SECRET is not set") +
                          "; expected 5-256 characters of A-Z a-z 0-9 and -, required for MAX in webhook mode")
    return MaxSettings(token, api_url, url, secret)
