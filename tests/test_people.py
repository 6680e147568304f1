"""people.seen: who wrote is remembered, a username belongs to one account, and nothing is written
when nothing changed (it runs for every update)."""

from datetime import UTC, datetime, timedelta

from domain import people
from domain.models import Person

T0 = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


async def test_a_username_moves_to_whoever_has_it_now(db):
    await people.seen(1, "Alice", "Alice A", T0)
    await people.seen(2, "alice", "New Alice", T0)  # a new account with the name the first one gave up
    assert (await Person.get(id=1)).username is None
    assert (await Person.get(id=2)).username == "alice"
    await people.seen(1, "alice", "Alice A", T0 + timedelta(hours=1))  # and back, through a rename
    assert (await Person.get(id=2)).username is None
    assert (await Person.get(id=1)).username == "alice"


async def test_nothing_is_written_when_nothing_changed(db):
    await people.seen(1, "alice", "Alice A", T0)
    await people.seen(1, "Alice", "Alice A", T0 + timedelta(hours=1))
    assert (await Person.get(id=1)).last_seen == T0
    await people.seen(1, "alice", "Alice Adams", T0 + timedelta(hours=2))
    person = await Person.get(id=1)
    assert (person.full_name, person.last_seen) == ("Alice Adams", T0 + timedelta(hours=2))
