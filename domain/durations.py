"""Durations written as `90s`, `15m`, `4h`, `7d` or combined like `1h30m`."""

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
ALLOWED = "a positive duration like 30s, 15m, 4h, 7d or 1h30m"


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raise ValueError for anything else (bare numbers are ambiguous)."""
    value = str(text).strip().lower()
    if not value or _PART.sub("", value) != "":
        raise ValueError(f"not a duration: {text!r}")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(value))
    return timedelta(seconds=seconds)


def parse_positive_duration(text: str) -> timedelta:
    delta = parse_duration(text)
    if delta <= timedelta(0):
        raise ValueError(f"not positive: {text!r}")
    return delta


def format_duration(delta: timedelta) -> str:
    """Compact form used in messages and /sla: `1h30m`, `15m`, `45s`, `2d4h`."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return sign + ("".join(parts) or "0s")
