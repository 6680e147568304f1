"""Message catalogs: `ru.toml` and `en.toml`, one key per user-facing text.

TOML rather than gettext: no compile step, the catalogs are read as they are committed, and a test
checks that both languages hold the same keys with the same placeholders.

A text that depends on a number is a table of CLDR plural forms, chosen by the `count` parameter with
Babel's rules for the language (Russian: one / few / many; English: one / other):
`days = { one = "{count} день", few = "{count} дня", many = "{count} дней", other = "{count} дня" }`.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.numbers import format_decimal

from domain.errors import Counted, Named

LANGS = ("ru", "en")
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})

Entry = str | dict[str, str]


def is_plural(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= PLURAL_FORMS and "other" in value


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Entry]:
    flat: dict[str, Entry] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if is_plural(value):
            flat[name] = {form: str(text) for form, text in value.items()}
        elif isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalog(lang: str) -> dict[str, Entry]:
    text = resources.files("locales").joinpath(f"{lang}.toml").read_text("utf-8")
    return _flatten(tomllib.loads(text))


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def plural_form(lang: str, count: int | float) -> str:
    return _locale(lang).plural_form(count)


def t(lang: str, key: str, /, **params: Any) -> str:
    """The text for `key` in `lang`, with `{placeholders}` filled. A missing key is a bug: it raises.
    A plural table needs `count`; a missing form falls back to `other`."""
    lang = lang if lang in LANGS else "en"
    params = {name: _word(lang, value) for name, value in params.items()}
    entry = catalog(lang)[key]
    if isinstance(entry, dict):
        count = params["count"]
        entry = entry.get(plural_form(lang, count), entry["other"])
        if isinstance(count, int):  # «10 000 пользователей», "10,000 users"
            params["count"] = format_decimal(count, locale=lang)
    return entry.format(**params)


def _word(lang: str, value: Any) -> Any:
    if isinstance(value, Counted):
        return t(lang, value.key, count=value.count)
    if isinstance(value, Named):
        return named(lang, value.prefix, value.value)
    return value


def named(lang: str, prefix: str, value: str) -> str:
    """The catalog's name for an internal value (`words.plan.premium` → «Премиум»), else the value itself:
    a shift or plan added in a policy file has no catalog entry and is shown as its id."""
    key = f"{prefix}.{value}"
    return t(lang, key) if has(lang, key) else value


def has(lang: str, key: str) -> bool:
    return key in catalog(lang if lang in LANGS else "en")
