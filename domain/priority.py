"""Priority from the text of the problem, by the policy's keyword rules (both languages)."""

from __future__ import annotations

from domain.policy import PRIORITIES

DEFAULT = "P3"


def classify(text: str, rules: dict[str, tuple[str, ...]]) -> str:
    """The first priority, checked P1 → P4, with a phrase found in the text; P3 when none matches."""
    lowered = text.lower()
    for priority in PRIORITIES:
        if any(phrase in lowered for phrase in rules.get(priority, ())):
            return priority
    return DEFAULT
