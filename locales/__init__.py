"""Message catalogs: `ru.toml` and `en.toml`, one key per user-facing text.

TOML rather than gettext: no compile step, the catalogs are read as they are committed, and a test
checks that both languages hold the same keys with the same placeholders.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

LANGS = ("ru", "en")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalog(lang: str) -> dict[str, str]:
    text = resources.files("locales").joinpath(f"{lang}.toml").read_text("utf-8")
    return _flatten(tomllib.loads(text))


def t(lang: str, key: str, /, **params: Any) -> str:
    """The text for `key` in `lang`, with `{placeholders}` filled. A missing key is a bug: it raises."""
    return catalog(lang if lang in LANGS else "en")[key].format(**params)
