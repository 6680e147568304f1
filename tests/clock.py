"""A clock the tests move by hand."""

from datetime import UTC, datetime, timedelta


class FrozenClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment.astimezone(UTC)  # the Clock contract: aware UTC


class ShiftedClock:
    """The real time, moved by the test: for the whole program run in the test's process, whose parts wait
    in real time (the ticker counts its intervals in the event loop's time) and read this clock meanwhile."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        """From now on the clock reads `moment` and runs on from it."""
        self.offset = moment - datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
