"""Attack on the group commit's remembering of people (`handlers.batch_intake._remember`, `people.first_seen`):
a batch must leave every person, username and identity exactly as the dispatcher taking the same updates
one by one leaves them. Each scenario runs both ways (`one_by_one` is the reference the batch must match)."""

import pytest

from domain import customers, people
from domain.errors import DeskError
from domain.models import Identity, IncidentMessage, Person
from tests.people import GROUP, OTHER_GROUP, customer
from tests.stub_api import StubBotAPI
from tests.test_batch_intake import acme, either_way, take, update  # noqa: F401 — the fixture and the helpers

WAYS = ["one_by_one", "batch"]


@pytest.mark.parametrize("way", WAYS)
async def test_a_username_handed_from_one_newcomer_to_another_stays_with_its_new_holder(acme, way):  # noqa: F811
    # Held: a username handed on within one lane ends with whoever holds it last. The batch first leaves
    # @anna_ops with nobody (its stale person objects), then finds the lane changed under it and leaves the
    # lane to the dispatcher, whose `people.seen` in Telegram's order repairs it.
    old, new = StubBotAPI.user(3801, "anna_ops"), StubBotAPI.user(3802, "anna_ops")
    renamed = {**old, "username": "anna_old"}
    updates = [update(acme, 901, GROUP, old, "the export fails"), update(acme, 902, GROUP, new, "same from my new account"),
               update(acme, 903, GROUP, renamed, "and again")]
    await either_way(acme, way, updates)
    holders = dict(await Person.filter(id__in=[3801, 3802]).values_list("id", "username"))
    assert holders == {3801: "anna_old", 3802: "anna_ops"}
    assert await people.resolve_person("@anna_ops") == 3802


@pytest.mark.parametrize("way", WAYS)
async def test_a_username_handed_from_a_newcomer_back_to_a_known_customer_is_theirs(acme, way):  # noqa: F811
    # Held: a known customer lends their username to a newcomer and takes it back, within one batch.
    borrower, other = StubBotAPI.user(3803, "client_cat"), StubBotAPI.user(3804, "someone_else")
    gave_back = {**borrower, "username": "borrower"}
    updates = [update(acme, 901, GROUP, borrower, "hello"), update(acme, 902, OTHER_GROUP, other, "hi"),
               update(acme, 903, GROUP, customer, "the export fails"), update(acme, 904, GROUP, gave_back, "bye")]
    await either_way(acme, way, updates)
    assert await people.resolve_person("@client_cat") == customer["id"]


@pytest.mark.parametrize("way", WAYS)
async def test_a_mixed_burst_leaves_people_as_the_dispatcher_does(acme, way):  # noqa: F811
    # Held: newcomers, a person row older than identities, a renamed customer, odd and long names, two
    # newcomers under one username and a person in two chats: every person once, with their identity,
    # their last name and username, and each message stored once under its author.
    await Person.create(id=3811, full_name="Row before identities", lang="en", last_seen=acme.clock.now())
    odd = {**StubBotAPI.user(3812, "odd_one"), "first_name": "\u202eevil\u202c\x00 " + "Щ" * 64,
           "last_name": "🙂" * 64}
    twins = StubBotAPI.user(3813, "twin"), StubBotAPI.user(3814, "Twin")
    updates = [update(acme, 901, GROUP, StubBotAPI.user(3811, "pre_row"), "one"),
               update(acme, 902, OTHER_GROUP, odd, "two"), update(acme, 903, GROUP, twins[0], "three"),
               update(acme, 904, OTHER_GROUP, twins[1], "four"),
               update(acme, 905, GROUP, {**customer, "first_name": "Cat Renamed"}, "five"),
               update(acme, 906, OTHER_GROUP, StubBotAPI.user(3815, "two_chats"), "six"),
               update(acme, 907, GROUP, StubBotAPI.user(3815, "two_chats"), "seven")]
    assert await either_way(acme, way, updates) == (7 if way == "batch" else 0)
    rows = {p.id: p for p in await Person.filter(id__in=[3811, 3812, 3813, 3814, 3815, customer["id"]])}
    assert len(rows) == 6
    assert (rows[3811].username, rows[3811].lang, rows[3811].full_name) == ("pre_row", "en", "User3811")
    assert rows[3812].full_name.startswith("evil") and len(rows[3812].full_name) <= 256
    assert (rows[3813].username, rows[3814].username) == (None, "twin")
    assert rows[customer["id"]].full_name == "Cat Renamed"
    assert await Identity.filter(channel="telegram", ref__in=[str(i) for i in rows]).count() == 6
    assert sorted(await IncidentMessage.filter(source="customer").values_list("author_id", flat=True)) == sorted([
        3811, 3812, 3813, 3814, 3815, 3815, customer["id"]])


async def test_resolve_person_refuses_what_nobody_holds(acme):  # noqa: F811
    # Held (a guard for the findings above): an unknown @name is refused, not guessed.
    with pytest.raises(DeskError):
        await people.resolve_person("@nobody_has_this")


@pytest.mark.parametrize("way", WAYS)
async def test_a_burst_owes_the_same_notices_as_the_dispatcher(acme, way):  # noqa: F811
    # Held: who is told is read once for the batch, and still each new incident owes what one by one owes:
    # its acknowledgement, the on-call "new" ping (the premium customer's dedicated engineer too), and for an
    # ended contract the leads' notice; a follow-up in the same burst owes nothing.
    from datetime import timedelta

    from domain import oncall
    from domain.models import Customer, Outbox
    from tests.people import ARCHITECT, ENGINEER, LEAD, customer_2

    now = acme.clock.now()
    await people.register_staff(ARCHITECT, "architect", None, now)
    await oncall.add_override(ENGINEER, now - timedelta(hours=1), now + timedelta(hours=1), LEAD, now)
    await Customer.filter(code="ACME").update(plan="premium", engineer_id=ARCHITECT)
    await customers.add_customer("OLD", "24x7", "Old", now)
    await Customer.filter(code="OLD").update(contract_until=(now - timedelta(days=3)).date())
    await customers.bind_by_code("OLD", "telegram", "-100777", "Old", "supergroup", LEAD, now)
    acme.stub.chat(-100777, "Old")
    updates = [update(acme, 901, GROUP, customer, "The export fails"), update(acme, 902, OTHER_GROUP, customer_2, "Down"),
               update(acme, 903, -100777, StubBotAPI.user(3821, "old_client"), "Help"),
               update(acme, 904, GROUP, customer, "still failing")]
    assert await either_way(acme, way, updates) == (4 if way == "batch" else 0)
    owed = sorted((kind, person or 0, key or "-") for kind, person, key in await Outbox.all().values_list(
        "kind", "person_id", "incident__key"))
    assert owed == sorted([
        ("ack", 0, "ACME-1"), ("ack", 0, "ACME-2"), ("ack", 0, "OLD-1"),
        ("new", ENGINEER, "ACME-1"), ("new", ARCHITECT, "ACME-1"), ("new", ENGINEER, "ACME-2"),
        ("new", ARCHITECT, "ACME-2"), ("new", ENGINEER, "OLD-1"), ("notice", LEAD, "-")])
    assert "OLD-1" in str(await Outbox.get(kind="notice").values_list("params", flat=True))


@pytest.mark.parametrize("fails_at", ["events", "messages", "ledger"])
async def test_a_batch_failing_mid_write_leaves_keys_gap_free_when_retried_one_by_one(acme, monkeypatch,  # noqa: F811
                                                                                       fails_at):
    # Held: the database fails in the middle of the batch's transaction (after the numbers were taken and the
    # incidents written); the batch is rolled back whole and its updates go one by one: ACME-1…3, no gap, no
    # repeat, one acknowledgement each, the newcomers remembered once.
    from tortoise.exceptions import OperationalError

    from domain import updates as ledger
    from domain.models import Incident, IncidentEvent, Outbox, ProcessedUpdate

    target = {"events": (IncidentEvent, "bulk_create"), "messages": (IncidentMessage, "bulk_create"),
              "ledger": (ledger, "record_many")}[fails_at]
    original = getattr(*target)

    async def failing(*args, **kwargs):
        raise OperationalError("the database went away")

    monkeypatch.setattr(*target, failing)
    third = -100800
    await customers.bind_by_code("ACME", "telegram", str(third), "Acme 3", "supergroup", 1001, acme.clock.now())
    updates = [update(acme, 901, GROUP, StubBotAPI.user(3831, "n1"), "one"),
               update(acme, 902, OTHER_GROUP, StubBotAPI.user(3832, "n2"), "two"),
               update(acme, 903, third, customer, "three"), update(acme, 904, GROUP, StubBotAPI.user(3831, "n1"), "more")]
    lanes, counts = await take(acme, updates)
    assert counts == [0] * len(lanes)
    assert not await Incident.exists() and not await ProcessedUpdate.filter(update_id__gte=901).exists()
    monkeypatch.setattr(*target, original)
    for item in updates:
        await acme.dp.feed_update(acme.bot, item)
    assert sorted(await Incident.all().values_list("number", flat=True)) == [1, 2, 3]
    assert await Outbox.filter(kind="ack").count() == 3
    assert await IncidentMessage.filter(source="customer").count() == 4
    assert await Person.filter(id__in=[3831, 3832]).count() == 2
