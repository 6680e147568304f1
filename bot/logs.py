"""Logging set-up. Secrets registered here are masked in every record, whatever logged them."""

from __future__ import annotations

import logging

_SECRETS: set[str] = set()


def hide(secret: str | None) -> None:
    if secret:
        _SECRETS.add(secret)


def _masked(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            text = record.getMessage()
            masked = _masked(text)
            if masked != text:
                record.msg, record.args = masked, None
        return True


class RedactingFormatter(logging.Formatter):
    """The whole line, traceback included: an exception's text may carry a request URL with the token."""

    def format(self, record: logging.LogRecord) -> str:
        return _masked(super().format(record))


def setup(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("tortoise").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("aiogram.event").setLevel(max(logging.WARNING, logging.getLevelName(level)))  # ours says more
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
