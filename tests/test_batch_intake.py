"""Group commit in polling (`handlers.batch_intake`): the plain customer messages at the start of each lane
of a batch are stored in one transaction with their ledger rows; everything else, and the rest of a lane
after it, is left to the usual one-by-one way, so what is stored is exactly what the dispatcher stores."""

import pytest
from aiogram.types import Update

from bot.app import lanes_of
from domain import customers, people
from domain.models import Identity, Incident, IncidentMessage, Outbox, Person, ProcessedUpdate
from handlers.batch_intake import BatchIntake
from scheduler.jobs import Heartbeat
from tests.people import ENGINEER, GROUP, LEAD, OTHER_GROUP, customer, customer_2, engineer
from tests.stub_api import StubBotAPI

THIRD_GROUP = -100700


@pytest.fixture
async def acme(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    for chat in (GROUP, OTHER_GROUP):
        await customers.bind_by_code("ACME", "telegram", str(chat), "Acme", "supergroup", LEAD, now)
        desk.stub.chat(chat, "Acme")
    await people.register_staff(ENGINEER, "engineer", None, now)
    for user in (customer, customer_2, engineer):  # people the desk has seen, under the names they write with
        await people.seen(user["id"], user["username"], user["first_name"], now, user.get("language_code"))
    return desk


def update(desk, update_id: int, chat: int, user: dict, text: str, **extra) -> Update:
    raw = desk.stub.make_message(chat, user, text, date=int(desk.clock.now().timestamp()), **extra)
    return Update.model_validate({"update_id": update_id, "message": raw}, context={"bot": desk.bot})


async def take(desk, updates: list[Update]) -> tuple[list[list[int]], list[int]]:
    lanes = lanes_of(updates)
    counts = await BatchIntake(desk.dp["desk"], Heartbeat()).take(lanes)
    return [[u.update_id for u in lane] for lane in lanes], counts


async def either_way(desk, way: str, updates: list[Update]) -> int:
    """Hand the updates to the desk `one_by_one` through the dispatcher, or as a `batch` whose leftovers go
    through it as the poller does; how many the batch took (0 one by one)."""
    left = updates
    if way == "batch":
        lanes, counts = await take(desk, updates)
        taken = {update_id for lane, count in zip(lanes, counts, strict=True) for update_id in lane[:count]}
        left = [item for item in updates if item.update_id not in taken]
    for item in left:
        await desk.dp.feed_update(desk.bot, item)
    return len(updates) - len(left)


async def test_plain_messages_of_a_batch_are_stored_together_with_their_ledger(acme):
    batch = [update(acme, 1, GROUP, customer, "The export fails"), update(acme, 2, OTHER_GROUP, customer_2, "Down!"),
             update(acme, 3, GROUP, customer, "since this morning"),
             update(acme, 4, OTHER_GROUP, customer_2, "for everyone")]
    lanes, counts = await take(acme, batch)
    assert lanes == [[1, 3], [2, 4]] and counts == [2, 2]
    incidents = {i.conversation_id: i for i in await Incident.all()}
    assert len(incidents) == 2 and sorted(i.number for i in incidents.values()) == [1, 2]  # gap-free
    stored = await IncidentMessage.filter(source="customer").order_by("id").values_list("incident_id", "ref", "text")
    assert len(stored) == 4 and len({(i, r) for i, r, _ in stored}) == 4
    first = {text: incident for incident, _, text in stored}
    assert first["The export fails"] == first["since this morning"] != first["Down!"] == first["for everyone"]
    titles = sorted(i.title for i in incidents.values())
    assert titles == ["Down!", "The export fails"]  # the message that opened each incident
    assert sorted(await ProcessedUpdate.all().values_list("update_id", flat=True)) == [1, 2, 3, 4]
    assert await Outbox.filter(kind="ack").count() == 2  # one acknowledgement per new incident, owed once


async def test_a_follow_up_joins_the_open_incident_of_its_chat(acme):
    await take(acme, [update(acme, 1, GROUP, customer, "The export fails")])
    _, counts = await take(acme, [update(acme, 2, GROUP, customer_2, "same here")])
    assert counts == [1]
    assert await Incident.all().count() == 1
    assert await IncidentMessage.filter(incident__key="ACME-1", source="customer").count() == 2
    assert await Outbox.filter(kind="ack").count() == 1


async def test_a_lane_is_taken_only_up_to_its_first_update_of_another_kind(acme):
    first = acme.stub.make_message(GROUP, customer, "earlier")
    batch = [update(acme, 1, GROUP, customer, "plain"),
             update(acme, 2, GROUP, customer, "a reply", reply_to_message=first),
             update(acme, 3, GROUP, customer, "plain again"),
             update(acme, 4, OTHER_GROUP, customer_2, "/new a command")]
    lanes, counts = await take(acme, batch)
    assert lanes == [[1, 2, 3], [4]] and counts == [1, 0]
    assert await IncidentMessage.filter(source="customer").values_list("ref", flat=True) == [
        str(batch[0].message.message_id)]
    assert await ProcessedUpdate.all().values_list("update_id", flat=True) == [1]


@pytest.mark.parametrize("who", ["staff", "lead", "unbound chat", "handled", "private"])
async def test_what_the_dispatcher_would_treat_otherwise_is_left_to_it(acme, who):
    user, chat = customer, GROUP
    if who == "staff":
        user = engineer
    elif who == "lead":
        user = StubBotAPI.user(LEAD, "lead_anna")
        await people.seen(LEAD, "lead_anna", user["first_name"], acme.clock.now())
    elif who == "unbound chat":
        chat = THIRD_GROUP
    elif who == "handled":
        await ProcessedUpdate.create(update_id=1, state="done", handled_at=acme.clock.now())
    elif who == "private":
        chat = customer["id"]
    _, counts = await take(acme, [update(acme, 1, chat, user, "hello")])
    assert counts == [0]
    assert not await IncidentMessage.exists()
    assert await ProcessedUpdate.filter(update_id=1).count() == (1 if who == "handled" else 0)


async def test_a_message_stored_before_leaves_the_whole_batch_to_the_usual_way(acme):
    first = update(acme, 1, GROUP, customer, "The export fails")
    await take(acme, [first])
    # Telegram sends the same message again under another update id (handled, but not yet in the ledger).
    again = Update.model_validate({"update_id": 2, "message": first.message.model_dump(mode="json",
                                   exclude_unset=True, by_alias=True)}, context={"bot": acme.bot})
    _, counts = await take(acme, [update(acme, 3, OTHER_GROUP, customer_2, "Down!"), again])
    assert counts == [0, 0]  # nothing of the batch was stored: all or nothing
    assert await IncidentMessage.filter(source="customer").count() == 1
    assert await Incident.all().count() == 1
    assert await ProcessedUpdate.all().values_list("update_id", flat=True) == [1]


async def test_someone_new_or_renamed_is_remembered_first_as_the_middleware_would(acme):
    newcomer = StubBotAPI.user(3999, "Never_Seen", lang="ru")
    renamed = {**customer_2, "first_name": "Dan Renamed"}
    _, counts = await take(acme, [update(acme, 1, GROUP, newcomer, "hello"), update(acme, 2, OTHER_GROUP, renamed, "hi")])
    assert counts == [1, 1]
    person = await Person.get(id=3999)
    assert (person.username, person.full_name, person.tg_lang) == ("never_seen", newcomer["first_name"], "ru")
    assert await Identity.filter(channel="telegram", ref="3999", person_id=3999).exists()
    assert (await Person.get(id=customer_2["id"])).full_name == "Dan Renamed"
    stored = await IncidentMessage.filter(source="customer").order_by("id").values_list("author_id", flat=True)
    assert stored == [3999, customer_2["id"]]


async def test_many_newcomers_are_remembered_at_once_as_one_by_one_would(acme):
    # A burst of new customers: written together (two multi-row inserts), as `people.seen` leaves each.
    holder = StubBotAPI.user(3990, "shared_name")
    await people.seen(holder["id"], "shared_name", holder["first_name"], acme.clock.now())
    newcomers = [StubBotAPI.user(3991, "Shared_Name", lang="ru"), StubBotAPI.user(3992, lang="de"),
                 StubBotAPI.user(3993, "third")]
    batch = [update(acme, i + 1, GROUP if i % 2 == 0 else OTHER_GROUP, user, f"hello {i}")
             for i, user in enumerate(newcomers)]
    _, counts = await take(acme, batch)
    assert sum(counts) == 3
    rows = {p.id: p for p in await Person.filter(id__in=[3990, 3991, 3992, 3993])}
    assert [(rows[i].username, rows[i].tg_lang) for i in (3991, 3992, 3993)] == [
        ("shared_name", "ru"), (None, "de"), ("third", "en")]
    assert all(rows[i].full_name == f"User{i}" and rows[i].last_seen == acme.clock.now() for i in (3991, 3992, 3993))
    assert rows[3990].username is None  # a username belongs to one account at a time
    assert sorted(await Identity.filter(channel="telegram", person_id__in=[3991, 3992, 3993]).values_list(
        "ref", flat=True)) == ["3991", "3992", "3993"]
    assert sorted(await IncidentMessage.filter(source="customer").values_list("author_id", flat=True)) == [
        3991, 3992, 3993]


async def test_newcomers_one_of_whom_is_not_new_after_all_are_remembered_one_by_one(acme):
    # A person row written before identities existed (or by another instance a moment ago): the multi-row
    # insert fails on it, and each newcomer goes the one-by-one way; nothing is lost or doubled.
    await Person.create(id=3995, full_name="Old row", last_seen=acme.clock.now())
    newcomers = [StubBotAPI.user(3994, "fresh"), StubBotAPI.user(3995, "old_row")]
    _, counts = await take(acme, [update(acme, 1, GROUP, newcomers[0], "one"),
                                  update(acme, 2, OTHER_GROUP, newcomers[1], "two")])
    assert counts == [1, 1]
    assert (await Person.get(id=3995)).username == "old_row"
    assert await Identity.filter(channel="telegram", ref__in=["3994", "3995"]).count() == 2
    assert await Person.filter(id__in=[3994, 3995]).count() == 2


async def test_two_newcomers_under_one_username_leave_it_to_the_later_one(acme):
    first, second = StubBotAPI.user(3996, "same"), StubBotAPI.user(3997, "same")
    _, counts = await take(acme, [update(acme, 1, GROUP, first, "one"), update(acme, 2, OTHER_GROUP, second, "two")])
    assert counts == [1, 1]
    assert await Person.filter(username="same").values_list("id", flat=True) == [3997]


async def test_a_batch_opening_many_incidents_owes_each_its_notices_reading_who_is_told_once(acme, monkeypatch):
    from domain import alerts

    reads = []
    original = alerts.Audience.at

    async def counted(*args, **kwargs):
        reads.append(args)
        return await original(*args, **kwargs)

    monkeypatch.setattr(alerts.Audience, "at", counted)
    _, counts = await take(acme, [update(acme, 1, GROUP, customer, "Export fails"),
                                  update(acme, 2, OTHER_GROUP, customer_2, "Down!")])
    assert counts == [1, 1] and len(reads) == 1
    incidents = await Incident.all().values_list("id", flat=True)
    assert len(incidents) == 2
    for incident_id in incidents:  # nobody on call: the lead is pinged for each, and each customer acknowledged
        assert await Outbox.filter(kind="ack", incident_id=incident_id).count() == 1
        assert await Outbox.filter(kind="new", incident_id=incident_id, person_id=LEAD).count() == 1
