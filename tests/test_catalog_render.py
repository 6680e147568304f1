"""Every catalog key rendered in both languages with sample values, plural tables at 1, 2, 5 and 21: each
has every CLDR form its language needs, and no text carries a raw internal value or a Latin unit in Russian."""

import re
import string
from datetime import timedelta

import pytest
from babel import Locale

from domain.errors import Counted, Named
from locales import LANGS, catalog, t
from locales import format as fmt

COUNTS = (1, 2, 5, 21)
# Internal values that must reach people by their names (the catalog's `words.*`), never as they are stored.
# In English some stored values are words too ("none", "weekly"); the ids that are no words still count.
RAW = {"en": re.compile(r"\b(in_progress|mon-fri|mon-sun|RUB|premium|warranty)\b"),
       "ru": re.compile(r"\b(in_progress|mon-fri|mon-sun|RUB|premium|warranty|standby|cluster|quarterly|monthly"
                        r"|weekly|none|off|new|resolved|closed|day|night)\b")}
COMPACT_DURATION = re.compile(r"\b\d+[smhd]\b|\b\d+h\d+m\b")
LATIN_UNIT = re.compile(r"\d\s*(?:min|sec|ms|h|m|s|d)\b")
# Latin words a Russian text may hold outside the command syntax it quotes: names and abbreviations.
ALLOWED_LATIN = {"DutyDesk", "Telegram", "id", "username", "LEAD_IDS", "A-Z", "Europe", "IANA", "BotFather",
                 "privacy", "mode", "CTS", "SLA", "P", "x", "ID", "eXpress", "MAX",  # brands as written in Russian
                 # words typed as command input, quoted in the error that explains it
                 "contact", "now", "h", "week", "month", "quarter", "ru", "en"}
SYNTAX = ("usage.", "help.")  # these quote command syntax, internal words included


def sample(name: str, lang: str):
    """A value such as the code passes for a placeholder: internal values by their names."""
    return {"plan": Named("words.plan", "premium"), "status": Named("state", "in_progress"),
            "ha": Named("words.ha", "standby"), "report": Named("words.report", "weekly"),
            "shift": Named("words.shift", "night"), "days": Counted("words.n.days", 21),
            "left": fmt.duration(lang, timedelta(minutes=14)), "by": fmt.duration(lang, timedelta(hours=1, minutes=10)),
            "target": fmt.duration(lang, timedelta(minutes=15)),
            "price": fmt.money(lang, 150000, "RUB"), "rating": fmt.number(lang, 4.2)}.get(name, f"<{name}>")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def renderings(lang: str):
    for key, entry in catalog(lang).items():
        texts = entry.values() if isinstance(entry, dict) else [entry]
        names = set().union(*(placeholders(x) for x in texts)) - {"count"}
        params = {name: sample(name, lang) for name in names}
        counts = COUNTS if isinstance(entry, dict) else (3,)
        for count in counts:
            yield key, count, t(lang, key, count=count, **params) if isinstance(entry, dict) else t(
                lang, key, **{**params, **({"count": count} if "count" in names or "{count}" in entry else {})})


@pytest.mark.parametrize("lang", LANGS)
def test_every_plural_table_has_every_form_the_language_needs(lang):
    needed = set(Locale.parse(lang).plural_form.tags) | {"other"}
    tables = {key: entry for key, entry in catalog(lang).items() if isinstance(entry, dict)}
    assert len(tables) >= 10
    for key, entry in tables.items():
        assert needed <= set(entry), f"{lang} {key}: missing {needed - set(entry)}"
    if lang == "ru":
        assert [t(lang, "words.n.days", count=n) for n in COUNTS] == ["1 день", "2 дня", "5 дней", "21 день"]
        assert t(lang, "words.n.days_gen", count=21) == "21 дня" and t(lang, "words.n.days_gen", count=5) == "5 дней"


@pytest.mark.parametrize("lang", LANGS)
def test_every_key_renders_without_raw_values_or_foreign_units(lang):
    rendered = list(renderings(lang))
    assert len(rendered) > 350
    for key, count, text in rendered:
        assert "{" not in text.replace("{}", ""), (key, text)
        if key.startswith(SYNTAX) or key.startswith("err."):
            continue  # command syntax and the values a command accepts are quoted as typed
        assert not RAW[lang].search(re.sub(r"<\w+>", "", text)), (lang, key, count, text)
        assert not COMPACT_DURATION.search(text), (lang, key, count, text)
        if lang == "ru":
            assert not LATIN_UNIT.search(text), (key, count, text)
            latin = set(re.findall(r"[A-Za-z][A-Za-z_\-]*", re.sub(r"<\w+>|/\w+\S*|https?://\S+", "", text)))
            assert latin <= ALLOWED_LATIN, (key, latin - ALLOWED_LATIN, text)


def test_the_sample_values_themselves_are_words():
    assert fmt.duration("ru", timedelta(hours=1, minutes=10)) == "1 ч 10 мин"
    assert fmt.duration("en", timedelta(minutes=14)) == "14 min"
    assert fmt.duration("ru", timedelta(days=2, hours=4)) == "2 дня 4 ч"
    assert fmt.number("ru", 4.2) == "4,2" and fmt.number("en", 4.2) == "4.2"
    assert fmt.money("ru", 150000, "RUB") == "150\u00a0000\u00a0₽" and fmt.money("en", 150000, "RUB") == "150,000\u00a0₽"
