"""Priority from the text of the problem, by the policy's keyword rules (both languages).

A keyword matches whole words only ("down" is not in "download", "dropdown" or "shutdown"); a word
ending in `*` is a stem and matches every word that starts with it (`недоступ*`: "недоступен",
"недоступна"). A phrase matches its words in order, separated by any whitespace.
"""

from __future__ import annotations

import re
from functools import lru_cache

from domain.policy import PRIORITIES

DEFAULT = "P3"


def keyword_pattern(phrase: str) -> str:
    """The regular expression of one keyword or phrase (already lower-case)."""
    words = []
    for word in phrase.split():
        stem = word.endswith("*")
        words.append(re.escape(word.removesuffix("*")) + (r"\w*" if stem else ""))
    return r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)"


@lru_cache(maxsize=16)
def _compiled(rules: tuple[tuple[str, ...], ...]) -> tuple[re.Pattern[str] | None, ...]:
    return tuple(re.compile("|".join(keyword_pattern(p) for p in phrases)) if phrases else None
                 for phrases in rules)


def classify(text: str, rules: dict[str, tuple[str, ...]]) -> str:
    """The first priority, checked P1 → P4, with a keyword found in the text; P3 when none matches."""
    lowered = text.lower()
    patterns = _compiled(tuple(rules.get(priority, ()) for priority in PRIORITIES))
    for priority, pattern in zip(PRIORITIES, patterns, strict=True):
        if pattern is not None and pattern.search(lowered):
            return priority
    return DEFAULT
