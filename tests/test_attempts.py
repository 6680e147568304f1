"""`domain.attempts`: an input that fails every time is set aside after ATTEMPTS stored failures; a network
failure is no fault of the input and is not counted."""

import pytest

from domain import attempts
from domain.models import FailedAttempt
from tests.clock import FrozenClock


async def test_the_third_failure_sets_the_input_aside_and_a_success_before_it_returns_the_result(db):
    clock = FrozenClock()
    set_aside = []

    async def fail():
        raise ValueError("a value the database refuses")

    async def aside(error: str, tries: int) -> str:
        set_aside.append((error, tries))
        return "aside"

    for expected in range(1, attempts.ATTEMPTS):
        with pytest.raises(ValueError):
            await attempts.take(7, fail, aside, clock.now)
        assert await attempts.count(7) == expected and not set_aside
    assert await attempts.take(7, fail, aside, clock.now) == "aside"
    assert set_aside == [("ValueError: a value the database refuses", attempts.ATTEMPTS)]
    assert not await FailedAttempt.exists()

    async def ok() -> str:
        return "taken"
    with pytest.raises(ValueError):
        await attempts.take(8, fail, aside, clock.now)
    assert await attempts.take(8, ok, aside, clock.now) == "taken" and len(set_aside) == 1


@pytest.mark.parametrize("error", [ConnectionError("MAX is away"), TimeoutError()])
async def test_a_network_failure_is_not_counted(db, error):
    async def fail():
        raise error

    async def aside(error: str, tries: int) -> None:
        raise AssertionError("set aside for the network's fault")

    for _ in range(attempts.ATTEMPTS + 1):
        with pytest.raises(type(error)):
            await attempts.take(9, fail, aside, FrozenClock().now)
    assert await attempts.count(9) == 0
