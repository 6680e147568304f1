"""One failing update never holds the desk (issue 12, items 6, 7 and 9).

Permanent Telegram refusals end an update's handling; transient failures are retried, then parked;
an update aiogram cannot read is parked and the rest of its batch handled; a retried update owes
nothing twice; leads list, replay and dismiss parked updates; webhook mode answers 200 to all of it.
"""

import asyncio
import contextlib
import json
import time
from collections import Counter
from datetime import timedelta

import pytest
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import Update
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

import telemetry
from bot.app import Poller
from bot.settings import load_settings
from bot.web import WEBHOOK_PATH, build_web_app
from domain import customers, parked, people, updates
from domain.models import Incident, IncidentMessage, Outbox, ParkedUpdate
from handlers.parked import Parking
from handlers.pings import TakeButton
from handlers.telegram_channel import said
from scheduler.jobs import Heartbeat
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.people import (
    ARCHITECT,
    CUSTOMER,
    ENGINEER,
    GROUP,
    LEAD,
    OTHER_GROUP,
    architect,
    customer,
    engineer,
    lead,
)
from tests.stub_api import StubBotAPI, too_many_requests

FORBIDDEN = (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was kicked from the group chat"})
NO_REPLY = (400, {"ok": False, "error_code": 400, "description": "Bad Request: message to reply not found"})
TOO_OLD = (400, {"ok": False, "error_code": 400,
                 "description": "Bad Request: query is too old and response timeout expired or query ID is invalid"})


async def bound(desk, code="ACME", chat=GROUP, plan="premium") -> None:
    now = desk.clock.now()
    await customers.add_customer(code, plan, code.title(), now)
    await customers.bind_by_code(code, "telegram", str(chat), code.title(), "supergroup", LEAD, now)
    desk.stub.chat(chat, code.title())


def refusals(reason: str) -> float:
    return telemetry.REGISTRY.get_sample_value("dutydesk_telegram_refusals_total", {"reason": reason}) or 0.0


# ---- item 6: permanent refusals end the update ------------------------------------------------------


@pytest.mark.parametrize(("fault", "reason"), [(FORBIDDEN, "forbidden"), (NO_REPLY, "bad_request")])
async def test_a_permanent_refusal_of_the_answer_ends_the_update(desk, fault, reason):
    await bound(desk)
    before = refusals(reason)
    message = desk.stub.make_message(GROUP, customer, "/status")
    desk.stub.faults["sendMessage"] = [fault]
    await desk.dp.feed_raw_update(desk.bot, {"update_id": 41, "message": message})  # does not raise: not retried
    assert await updates.handled(41)  # recorded: a redelivery is skipped
    assert refusals(reason) == before + 1
    assert len(desk.stub.find("sendMessage", among="refused")) == 1  # the answer was tried once, refused


async def test_a_transient_failure_is_still_raised_for_a_retry(desk):
    await bound(desk)
    desk.stub.faults["sendMessage"] = [too_many_requests(1)]
    with pytest.raises(TelegramRetryAfter):
        await desk.dp.feed_raw_update(desk.bot, {"update_id": 42, "message": desk.stub.make_message(
            GROUP, customer, "/status")})
    assert not await updates.handled(42)


async def test_a_button_pressed_while_the_bot_was_down_still_takes_effect(desk):
    await bound(desk)
    await people.register_staff(ENGINEER, "engineer", LEAD, desk.clock.now())
    await desk.say(GROUP, customer, "Portal is down")
    incident = await Incident.get(key="ACME-1")
    dm = {"message_id": 5, "date": 0, "chat": {"id": ENGINEER, "type": "private"}, "text": "ping"}
    desk.stub.faults["answerCallbackQuery"] = [TOO_OLD]
    await desk.press(dm, engineer, TakeButton(incident=incident.id).pack())  # does not raise
    assert (await Incident.get(id=incident.id)).assignee_id == ENGINEER
    assert "ACME-1: an engineer is on it" in desk.last_reply(GROUP)


# ---- item 6: the poller parks what keeps failing and lets the other chats go on --------------------------


class FakeBot:
    """getUpdates as Telegram does it: everything from `offset` on, forgetting what is below it."""

    def __init__(self) -> None:
        self.updates: list[Update] = []
        self.offsets: list[int | None] = []
        self.arrived = asyncio.Event()

    def add(self, update: Update) -> None:
        self.updates.append(update)
        self.arrived.set()

    async def get_updates(self, offset=None, timeout=0, allowed_updates=None) -> list[Update]:
        self.offsets.append(offset)
        self.updates = [u for u in self.updates if offset is None or u.update_id >= offset]
        if not self.updates and timeout:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(timeout, 0.2))
        return list(self.updates)


class ScriptedDispatcher:
    """Handles updates, failing (as when the database is away) for the ids in `failing`."""

    def __init__(self, failing: set[int]) -> None:
        self.failing = failing
        self.handled: list[int] = []

    def resolve_used_update_types(self) -> list[str]:
        return ["message"]

    async def feed_update(self, bot, update: Update) -> None:
        if update.update_id in self.failing:
            raise ConnectionError("database away")
        self.handled.append(update.update_id)


class RecordingParking:
    def __init__(self) -> None:
        self.parked: list[tuple[dict, str, str]] = []

    async def park(self, update: dict, reason: str, error: str) -> None:
        self.parked.append((update, reason, error))


stub = StubBotAPI()


def message(update_id: int, chat: int, user: dict, text: str = "hello") -> Update:
    return Update.model_validate({"update_id": update_id, "message": stub.make_message(chat, user, text)})


async def until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true"
        await asyncio.sleep(0.02)


async def test_a_failing_chat_does_not_hold_the_others_and_keeps_its_own_order():
    bot, dp, stopping = FakeBot(), ScriptedDispatcher(failing={1}), asyncio.Event()
    poller = Poller(bot, dp, stopping, Heartbeat(), FrozenClock(), RecordingParking(), park_after=600, timeout=1)
    poller.max_backoff = 0.05
    running = asyncio.create_task(poller.run())
    bot.add(message(1, GROUP, customer))  # keeps failing
    bot.add(message(2, OTHER_GROUP, lead))
    await until(lambda: 2 in dp.handled)
    bot.add(message(3, OTHER_GROUP, lead))  # a later batch: handled while update 1 is still failing
    bot.add(message(4, GROUP, customer))  # the failing chat's next message waits behind it
    await until(lambda: 3 in dp.handled)
    await asyncio.sleep(0.3)
    assert 4 not in dp.handled
    assert bot.offsets[-1] == 1  # nothing from update 1 on is confirmed: a crash now loses nothing
    dp.failing.clear()  # the database is back
    await until(lambda: 4 in dp.handled)
    assert dp.handled == [2, 3, 1, 4]
    await until(lambda: bot.offsets[-1] == 5)
    stopping.set()
    await asyncio.wait_for(running, 5)


async def test_an_update_failing_past_the_budget_is_parked_and_the_lane_goes_on():
    moments = iter(range(0, 10_000, 100))  # each look at the monotonic clock: 100 s later
    dp, parking, stopping = ScriptedDispatcher(failing={7}), RecordingParking(), asyncio.Event()
    poller = Poller(None, dp, stopping, Heartbeat(), FrozenClock(), parking, park_after=180,
                    monotonic=lambda: next(moments))
    poller.max_backoff = 0.01
    await asyncio.wait_for(poller._lane([message(7, GROUP, customer), message(8, GROUP, customer)], set()), 10)
    (payload, reason, error), = parking.parked
    assert reason == "failing" and "database away" in error
    assert payload["update_id"] == 7 and payload["message"]["from"]["id"] == CUSTOMER  # whole, Telegram's names
    assert dp.handled == [8] and poller.heartbeat.failing == {}


class ParkingAway(RecordingParking):
    async def park(self, update: dict, reason: str, error: str) -> None:
        raise ConnectionError("database away")


async def test_an_update_that_cannot_be_parked_either_is_kept_retrying():
    dp, stopping = ScriptedDispatcher(failing={7}), asyncio.Event()
    poller = Poller(None, dp, stopping, Heartbeat(), FrozenClock(), ParkingAway(), park_after=0)
    poller.max_backoff = 0.01
    lane = asyncio.create_task(poller.handle(message(7, GROUP, customer)))
    await asyncio.sleep(0.2)
    assert not lane.done()  # never dropped
    dp.failing.clear()
    assert await asyncio.wait_for(lane, 5) is True and dp.handled == [7]


# ---- item 9: an update aiogram cannot read --------------------------------------------------------------


async def test_an_unreadable_update_is_parked_and_the_rest_of_the_batch_handled(desk):
    await bound(desk)
    desk.stub.chat(GROUP, "Acme")
    # A field Telegram changed: the chat id became a string. aiogram cannot read the whole batch.
    bad = await desk.stub.feed({"message": {"message_id": 1, "date": 1772000000, "from": customer,
                                            "chat": {"id": "acme-chat", "type": "supergroup"}, "text": "new API"}})
    good = await desk.stub.send(GROUP, customer, "Portal is down")
    stopping = asyncio.Event()
    poller = Poller(desk.bot, desk.dp, stopping, Heartbeat(), desk.clock, Parking(desk.settings, desk.clock),
                    park_after=600, timeout=1)
    running = asyncio.create_task(poller.run())
    deadline = time.monotonic() + 15
    while not await IncidentMessage.exists(ref=str(good["message_id"])):
        assert time.monotonic() < deadline and not running.done(), "the batch was not handled"
        await asyncio.sleep(0.05)
    await until(lambda: any(int(c.params.get("offset") or 0) == bad["update_id"] + 2 for c in desk.stub.find("getUpdates")))
    stopping.set()
    await asyncio.wait_for(running, 5)
    row = await ParkedUpdate.get(update_id=bad["update_id"])
    assert row.reason == "unparseable" and row.status == "parked" and json.loads(row.payload) == bad
    assert "chat" in row.error
    notice = await Outbox.get(person_id=LEAD, dedupe=f"parked:{row.id}:{LEAD}")
    text = said("en", notice.params)  # as the lead reads it
    assert f"parked as #{row.id}" in text and "new API" in text


# ---- the leads: notice once, /parked, /replay, /dismiss ---------------------------------------------------


async def test_leads_hear_once_list_replay_and_dismiss(desk):
    await bound(desk)
    parking = Parking(desk.settings, desk.clock)
    update = {"update_id": 77, "message": desk.stub.make_message(GROUP, customer, "Portal is down")}
    row = await parking.park(update, "failing", "ConnectionError: database away")
    assert (await parking.park(update, "failing", "again")).id == row.id  # redelivered: kept once
    other = await parking.park({"update_id": 78, "message": {"chat": "x"}}, "unparseable", "chat: not a Chat")
    await desk.flush()
    assert sum(f"parked as #{row.id}" in m["text"] for m in desk.stub.delivered if int(m["chat_id"]) == LEAD) == 1

    await desk.say(LEAD, lead, "/parked")
    listing = desk.last_reply(LEAD)
    assert f"#{row.id} · update 77" in listing and "Portal is down" in listing and f"#{other.id} · update 78" in listing

    await people.register_staff(ENGINEER, "engineer", LEAD, desk.clock.now())
    await desk.say(ENGINEER, engineer, "/replay 1")
    assert "for leads only" in desk.last_reply(ENGINEER)
    for bad in ("/replay", "/replay one", "/dismiss 1 2"):
        await desk.say(LEAD, lead, bad)
        assert desk.last_reply(LEAD).startswith("Usage: /")
    await desk.say(LEAD, lead, "/replay 999")
    assert "No parked update #999" in desk.last_reply(LEAD)
    assert await parked.count_waiting() == 2  # nothing changed

    mark = desk.stub.mark()
    await desk.say(LEAD, lead, f"/replay {row.id}")
    assert any(f"#{row.id} was handled again" in text for text in desk.replies(LEAD, mark))
    assert await Incident.filter(key="ACME-1").exists()  # the customer's message made its incident
    assert "ACME-1" in desk.last_reply(GROUP)
    await desk.say(LEAD, lead, f"/replay {row.id}")
    assert f"No parked update #{row.id}" in desk.last_reply(LEAD)

    await desk.say(LEAD, lead, f"/replay {other.id}")  # still unreadable: stays parked, the lead sees why
    assert f"#{other.id} failed again" in desk.last_reply(LEAD)
    await desk.say(LEAD, lead, f"/dismiss {other.id}")
    assert f"#{other.id} is dismissed" in desk.last_reply(LEAD)
    assert await parked.count_waiting() == 0
    await desk.say(LEAD, lead, "/parked")
    assert desk.last_reply(LEAD) == "No parked updates."
    assert {r.status for r in await ParkedUpdate.all()} == {"replayed", "dismissed"}
    assert (await ParkedUpdate.get(id=other.id)).resolved_by == LEAD


# ---- item 7: a retried update owes nothing twice ----------------------------------------------------------


async def handled_after_a_429(desk, update: dict, method: str = "sendMessage") -> None:
    """The update's answer gets a 429 (the effects are already owed), then the update is handled again."""
    desk.stub.faults[method] = [too_many_requests(1)]
    with pytest.raises(TelegramRetryAfter):
        await desk.dp.feed_raw_update(desk.bot, update)
    desk.clock.advance(timedelta(seconds=2))  # the retry comes a little later
    await desk.dp.feed_raw_update(desk.bot, update)
    await desk.flush()


async def test_a_retried_announce_reaches_each_chat_once(desk):
    await bound(desk)
    await bound(desk, "BETA", OTHER_GROUP, "8x5")
    await handled_after_a_429(desk, {"update_id": 51, "message": desk.stub.make_message(
        LEAD, lead, "/announce all Maintenance tonight")})
    got = Counter(int(m["chat_id"]) for m in desk.stub.delivered if "Maintenance tonight" in m["text"])
    assert got == {GROUP: 1, OTHER_GROUP: 1}
    await desk.say(LEAD, lead, "/announce all Maintenance tonight")  # the same text again, on purpose: sent
    got = Counter(int(m["chat_id"]) for m in desk.stub.delivered if "Maintenance tonight" in m["text"])
    assert got == {GROUP: 2, OTHER_GROUP: 2}


async def test_a_retried_escalation_dms_each_architect_once(desk):
    await bound(desk)
    await people.register_staff(ENGINEER, "engineer", LEAD, desk.clock.now())
    await people.register_staff(ARCHITECT, "architect", LEAD, desk.clock.now())
    await desk.say(GROUP, customer, "Cluster failover does not start")
    await handled_after_a_429(desk, {"update_id": 52, "message": desk.stub.make_message(
        ENGINEER, engineer, "/escalate ACME-1 architect please look")})
    assert len([m for m in desk.stub.delivered if int(m["chat_id"]) == ARCHITECT
                and m["text"].startswith("🧭 Escalation: ACME-1")]) == 1
    assert architect


async def test_a_retried_take_tells_the_customer_once(desk):
    await bound(desk)
    await people.register_staff(ENGINEER, "engineer", LEAD, desk.clock.now())
    await desk.say(GROUP, customer, "Portal is down")
    incident = await Incident.get(key="ACME-1")
    dm = {"message_id": 5, "date": 0, "chat": {"id": ENGINEER, "type": "private"}, "text": "ping"}
    query = {"id": "q1", "from": engineer, "chat_instance": "1", "message": dm,
             "data": TakeButton(incident=incident.id).pack()}
    await handled_after_a_429(desk, {"update_id": 53, "callback_query": query}, "answerCallbackQuery")
    assert sum("ACME-1: an engineer is on it" in text for text in desk.replies(GROUP)) == 1


# ---- webhook mode ----------------------------------------------------------------------------------------

SECRET = "s3cret-token_value"


@pytest.fixture
async def webhook(stub, db):
    settings = load_settings(make_env(stub.url, db, MODE="webhook", WEBHOOK_URL="https://desk.example/telegram/webhook",
                                      WEBHOOK_SECRET=SECRET, PARK_AFTER="2m"))
    desk = Desk(stub, settings, FrozenClock())
    heartbeat = Heartbeat(last_tick=desk.clock.now())
    app = build_web_app(settings, desk.dp, desk.bot, heartbeat, desk.clock, Parking(settings, desk.clock))
    client = TestClient(TestServer(app))
    await client.start_server()
    yield desk, client, app
    await client.close()


async def post(client, update: dict) -> int:
    response = await client.post(WEBHOOK_PATH, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    return response.status


async def test_webhook_answers_200_to_refusals_and_parks_what_it_cannot_read(webhook):
    desk, client, _ = webhook
    await bound(desk)
    desk.stub.faults["sendMessage"] = [FORBIDDEN]
    assert await post(client, {"update_id": 61, "message": desk.stub.make_message(GROUP, customer, "/status")}) == 200
    assert await updates.handled(61)
    unreadable = {"update_id": 62, "message": {"message_id": 1, "date": 0, "chat": {"id": "x", "type": "group"}}}
    assert await post(client, unreadable) == 200  # else Telegram sends it again and again, holding the rest
    row = await ParkedUpdate.get(update_id=62)
    assert row.reason == "unparseable" and json.loads(row.payload) == unreadable
    response = await client.get("/healthz")
    assert response.status == 200 and (await response.json())["parked"] == 1
    metrics = await (await client.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    assert families["dutydesk_parked_updates_waiting"].samples[0].value == 1
    assert any(s.name.endswith("_total") and s.labels == {"reason": "forbidden"} and s.value >= 1
               for s in families["dutydesk_telegram_refusals"].samples)


async def test_webhook_parks_an_update_still_failing_after_the_budget(webhook):
    desk, client, app = webhook
    await bound(desk)
    handler = next(r.handler for r in app.router.routes() if r.method == "POST").__self__
    moments = iter([0, 60, 121])  # the first failure, a minute on, two minutes on
    handler.monotonic = lambda: next(moments)
    update = {"update_id": 63, "message": desk.stub.make_message(GROUP, customer, "/status")}
    for _ in range(2):  # 500: Telegram delivers it again
        desk.stub.faults["sendMessage"] = [too_many_requests(1)]
        assert await post(client, update) == 500
    desk.stub.faults["sendMessage"] = [too_many_requests(1)]
    assert await post(client, update) == 200  # two minutes on: parked, answered 200
    row = await ParkedUpdate.get(update_id=63)
    assert row.reason == "failing" and "TelegramRetryAfter" in row.error and json.loads(row.payload) == update
    assert await Outbox.filter(person_id=LEAD, dedupe=f"parked:{row.id}:{LEAD}").exists()


# ---- item 6: the database away inside a handler is transient too ----------------------------------------


async def test_a_database_blip_inside_a_handler_is_retried_not_answered_with_an_error(desk, monkeypatch):
    from tortoise.exceptions import OperationalError

    from domain import intake

    await bound(desk)
    real = intake.record_customer_message
    blips = [OperationalError("database is locked")]

    async def locked_once(*args, **kwargs):
        if blips:
            raise blips.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(intake, "record_customer_message", locked_once)
    update = {"update_id": 71, "message": desk.stub.make_message(GROUP, customer, "Portal is down")}
    with pytest.raises(OperationalError):  # raised for the poller to retry
        await desk.dp.feed_raw_update(desk.bot, update)
    assert not desk.replies(GROUP) and not await updates.handled(71)  # no "something went wrong"
    await desk.dp.feed_raw_update(desk.bot, update)  # the retry
    await desk.flush()
    assert await IncidentMessage.filter(ref=str(update["message"]["message_id"])).count() == 1
    assert "ACME-1 is registered" in desk.last_reply(GROUP)
