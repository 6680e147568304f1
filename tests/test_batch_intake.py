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
