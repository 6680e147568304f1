"""An input that fails every time it is taken in (a value the database refuses, a payload the parser chokes on)
must not stop the inputs behind it, nor be lost: after `ATTEMPTS` failed tries it is set aside instead (the
caller records it and tells the leads, in one transaction) and the next input is taken.

Used by every channel that takes inputs in order (a mail, a MAX update). The count is stored in its own
transaction, after the failed one rolled back, so a restart does not start it over. A failure the count
cannot be stored for (the database away) is not counted: a database that is away only delays inputs. Nor is
a network failure (`OSError`, `TimeoutError`): it is no fault of the input.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from tortoise.transactions import in_transaction

from domain.models import FailedAttempt

ATTEMPTS = 3
KEEP = timedelta(days=7)  # a count left by an input taken in later: pruned with the update ledger
TRANSIENT = (OSError, TimeoutError)
ERROR_LIMIT = 300

T = TypeVar("T")


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_LIMIT]


async def failed(key: int, error: str, now: datetime) -> int:
    """Count one failed attempt of the input `key`; how many there were so far."""
    async with in_transaction():
        row = await FailedAttempt.select_for_update().get_or_none(key=key)
        if row is None:
            await FailedAttempt.create(key=key, attempts=1, error=error, failed_at=now)
            return 1
        await FailedAttempt.filter(key=key).update(attempts=row.attempts + 1, error=error, failed_at=now)
        return row.attempts + 1


async def count(key: int) -> int:
    return await FailedAttempt.filter(key=key).first().values_list("attempts", flat=True) or 0


async def take(key: int, attempt: Callable[[], Awaitable[T]], set_aside: Callable[[str, int], Awaitable[T]],
               now: Callable[[], datetime]) -> T:
    """Try `attempt`; when it fails, count the failure and raise it, unless this was the `ATTEMPTS`-th: then
    `set_aside(error, attempts)` instead (it records the input and owes the leads' notice), and its result."""
    try:
        return await attempt()
    except TRANSIENT:
        raise
    except Exception as exc:
        error = describe(exc)
        try:
            attempts = await failed(key, error, now())
        except Exception:
            raise exc from None  # the count cannot be stored (the database away): retried, not counted
        if attempts < ATTEMPTS:
            raise
    result = await set_aside(error, attempts)
    await FailedAttempt.filter(key=key).delete()
    return result


async def forget_old(now: datetime) -> int:
    """Counts of inputs that were taken in after a failure or two (never set aside): kept a while, then gone."""
    return await FailedAttempt.filter(failed_at__lt=now - KEEP).delete()
