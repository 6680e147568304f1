"""Once-only duties across restarts and instances: the first to insert a key does the work."""

from __future__ import annotations

from datetime import datetime

from tortoise.exceptions import IntegrityError

from domain.models import JobClaim


async def claim(key: str, now: datetime) -> bool:
    """True for exactly one caller per key (call outside a transaction: a conflict must not abort one)."""
    try:
        await JobClaim.create(key=key, claimed_at=now)
    except IntegrityError:
        return False
    return True
