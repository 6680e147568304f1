"""Pings with the injected clock: the on-call engineer hears in time, and nobody hears twice."""

import re
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import customers, people
from domain.models import Incident, Outbox, Rotation
from scheduler.jobs import Heartbeat, Tick
from telemetry import REGISTRY
from tests.owed import owe_text
from tests.people import ARCHITECT, ENGINEER, GROUP, LEAD, architect, customer, customer_2, engineer
from tests.stub_api import DROP_CONNECTION, SERVER_ERROR

MSK = ZoneInfo("Europe/Moscow")
NIGHT_ENGINEER = 2010
night_engineer = {"id": NIGHT_ENGINEER, "is_bot": False, "first_name": "Nina", "username": "night_nina"}


@pytest.fixture
async def desk_at(desk):
    async def make(plan: str, at: datetime):
        desk.clock.set(at)
        now = desk.clock.now()
        await customers.add_customer("ACME", plan, "Acme", now)
        await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
        for user in (engineer, night_engineer, architect):
            await people.register_staff(user["id"], "engineer", LEAD, now)
            await people.seen(user["id"], user.get("username"), user["first_name"], now)
        await Rotation.create(shift="day", mode="daily", members=[ENGINEER], anchor=date(2026, 3, 1), updated_at=now)
        await Rotation.create(shift="night", mode="daily", members=[NIGHT_ENGINEER], anchor=date(2026, 3, 1),
                              updated_at=now)
        desk.stub.chat(GROUP, "Acme")
        desk.tick = Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat())
        return desk
    return make


async def run_until(desk, moment: datetime, step=timedelta(seconds=15)) -> None:
    """Tick every `step` up to `moment`, sending what is owed, as the running program would."""
    while desk.clock.now() + step <= moment:
        desk.clock.advance(step)
        await desk.tick.run()
        await desk.flush()


def dms(desk, user_id: int, kind_word: str = "") -> list[dict]:
    return [m for m in desk.stub.delivered if int(m["chat_id"]) == user_id and kind_word in m["text"]]


async def test_premium_at_night_new_reminder_breach_repeats(desk_at):
    desk = await desk_at("premium", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Всё упало")
    new = dms(desk, NIGHT_ENGINEER, "🆕 ACME-1")
    assert len(new) == 1 and "Всё упало" in new[0]["text"]
    buttons = new[0]["reply_markup"]["inline_keyboard"][0]
    assert buttons[0]["text"] == "Take" and buttons[1]["url"].startswith("https://t.me/c/")
    assert dms(desk, ENGINEER) == []  # the day engineer sleeps

    await run_until(desk, datetime(2026, 3, 16, 2, 9, 59, tzinfo=MSK))
    assert dms(desk, NIGHT_ENGINEER, "⏰") == []
    await run_until(desk, datetime(2026, 3, 16, 2, 10, 15, tzinfo=MSK))  # deadline 02:15, reminder 02:10
    assert len(dms(desk, NIGHT_ENGINEER, "⏰ ACME-1")) == 1
    await run_until(desk, datetime(2026, 3, 16, 2, 15, 15, tzinfo=MSK))
    assert len(dms(desk, NIGHT_ENGINEER, "🚨 SLA breached: ACME-1")) == 1
    assert len(dms(desk, LEAD, "🚨 SLA breached: ACME-1")) == 1
    await run_until(desk, datetime(2026, 3, 16, 4, 0, tzinfo=MSK))
    assert len(dms(desk, NIGHT_ENGINEER, "Still no response")) == 3  # max_repeats
    assert len(dms(desk, LEAD, "Still no response")) == 3
    assert (await Incident.get(key="ACME-1")).next_due_at is None
    # The repeats are owed every repeat_every (15 min) after the 02:15 deadline, each within a tick (15 s).
    owed = sorted(await Outbox.filter(person_id=NIGHT_ENGINEER, kind="repeat")
                  .values_list("created_at", flat=True))
    deadline = datetime(2026, 3, 16, 2, 15, tzinfo=MSK)
    assert [timedelta(0) <= at - (deadline + n * timedelta(minutes=15)) <= timedelta(seconds=15)
            for n, at in enumerate(owed, start=1)] == [True, True, True], owed


async def test_repeats_missed_while_away_are_not_sent_in_a_burst(desk_at):
    """The desk was away from 02:05 to 02:50: the reminder and the breach go out on its return, then one
    repeat at the next moment still ahead (03:00), not the 02:30 and 02:45 ones a tick apart."""
    desk = await desk_at("premium", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Всё упало")  # deadline 02:15, repeats 02:30, 02:45, 03:00
    desk.clock.set(datetime(2026, 3, 16, 2, 50, tzinfo=MSK))
    await run_until(desk, datetime(2026, 3, 16, 2, 59, 45, tzinfo=MSK))
    assert len(dms(desk, LEAD, "🚨 SLA breached: ACME-1")) == 1
    assert dms(desk, LEAD, "Still no response") == []  # nothing caught up in a burst
    await run_until(desk, datetime(2026, 3, 16, 3, 0, 15, tzinfo=MSK))
    assert len(dms(desk, LEAD, "Still no response")) == 1
    await run_until(desk, datetime(2026, 3, 16, 4, 0, tzinfo=MSK))
    assert len(dms(desk, LEAD, "Still no response")) == 1  # 03:00 was the last of max_repeats' moments
    assert (await Incident.get(key="ACME-1")).next_due_at is None


async def test_pings_fire_within_one_tick_of_their_moment(desk_at):
    desk = await desk_at("24x7", datetime(2026, 3, 16, 12, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Problem")  # deadline 13:00, reminder 12:45
    await run_until(desk, datetime(2026, 3, 16, 12, 45, 15, tzinfo=MSK))
    reminders = [c for c in desk.stub.calls if c.method == "sendMessage" and "⏰" in c.params.get("text", "")]
    assert len(reminders) == 1
    row = await Outbox.get(kind="reminder")
    assert timedelta(0) <= row.created_at - datetime(2026, 3, 16, 12, 45, tzinfo=MSK) <= timedelta(seconds=15)


async def test_8x5_at_night_waits_for_business_hours(desk_at):
    desk = await desk_at("8x5", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Ошибка выгрузки")
    await run_until(desk, datetime(2026, 3, 16, 9, 59, tzinfo=MSK), step=timedelta(minutes=1))
    assert dms(desk, NIGHT_ENGINEER, "ACME-1") == [] and dms(desk, ENGINEER, "⏰") == []
    # The day engineer's handover lists it at 10:00; the reminder comes at 10:45, the breach at 11:00.
    await run_until(desk, datetime(2026, 3, 16, 10, 1, tzinfo=MSK), step=timedelta(minutes=1))
    handover = dms(desk, ENGINEER, "shift starts")
    assert len(handover) == 1 and "ACME-1" in handover[0]["text"]
    await run_until(desk, datetime(2026, 3, 16, 10, 44, tzinfo=MSK))
    assert dms(desk, ENGINEER, "⏰") == []
    await run_until(desk, datetime(2026, 3, 16, 10, 45, 15, tzinfo=MSK))
    assert len(dms(desk, ENGINEER, "⏰ ACME-1")) == 1
    await run_until(desk, datetime(2026, 3, 16, 11, 0, 15, tzinfo=MSK))
    assert len(dms(desk, ENGINEER, "🚨 SLA breached: ACME-1")) == 1


async def test_warranty_never_pings(desk_at):
    desk = await desk_at("warranty", datetime(2026, 3, 16, 12, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Сервер недоступен")
    await run_until(desk, datetime(2026, 3, 17, 12, 0, tzinfo=MSK), step=timedelta(minutes=5))
    assert not [m for m in desk.stub.delivered if m["text"].startswith(("🆕", "⏰", "🚨"))]


async def test_a_response_before_the_reminder_cancels_everything(desk_at):
    desk = await desk_at("premium", datetime(2026, 3, 16, 12, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Problem")
    desk.clock.advance(timedelta(minutes=3))
    await desk.say(GROUP, engineer, "On it")
    await run_until(desk, datetime(2026, 3, 16, 13, 30, tzinfo=MSK))
    assert not [m for m in desk.stub.delivered if m["text"].startswith(("⏰", "🚨"))]


async def test_reminder_written_but_answered_before_sending_is_dropped(desk_at):
    desk = await desk_at("premium", datetime(2026, 3, 16, 12, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Problem")
    desk.clock.set(datetime(2026, 3, 16, 12, 10, 5, tzinfo=MSK))
    await desk.tick.run()  # the reminder is owed, not yet sent
    await desk.dp.feed_raw_update(desk.bot, {"update_id": 99, "message": desk.stub.make_message(
        GROUP, engineer, "Looking", date=int(desk.clock.now().timestamp()))})
    await desk.flush()
    assert not [m for m in desk.stub.delivered if m["text"].startswith("⏰")]
    assert await Outbox.filter(kind="reminder", status="dropped").count() == 1


async def test_take_button(desk_at):
    desk = await desk_at("premium", datetime(2026, 3, 16, 12, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Problem")
    ping = dms(desk, ENGINEER, "🆕 ACME-1")[0]
    data = ping["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    dm = {"message_id": ping["message_id"], "date": 0, "chat": {"id": ENGINEER, "type": "private"}, "text": "x"}
    await desk.press(dm, customer_2, data)  # a forwarded button: customers cannot take
    assert "Only the support team" in desk.stub.find("answerCallbackQuery")[-1].params["text"]
    await desk.press(dm, engineer, data)
    assert "ACME-1 is yours" in desk.stub.find("answerCallbackQuery")[-1].params["text"]
    assert "ACME-1: an engineer is on it" in desk.last_reply(GROUP)
    await desk.press(dm, architect, data)
    assert "already taken by" in desk.stub.find("answerCallbackQuery")[-1].params["text"]
    incident = await Incident.get(key="ACME-1")
    assert incident.assignee_id == ENGINEER and incident.next_due_at is None


async def test_two_people_pressing_take_at_once(desk_at):
    """Both presses are handled side by side: one gets the incident, the other is told who has it."""
    import asyncio

    from domain.models import IncidentEvent

    desk = await desk_at("premium", datetime(2026, 3, 16, 12, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Problem")
    ping = dms(desk, ENGINEER, "🆕 ACME-1")[0]
    data = ping["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    dm = {"message_id": ping["message_id"], "date": 0, "chat": {"id": ENGINEER, "type": "private"}, "text": "x"}
    mark = desk.stub.mark()
    await asyncio.gather(*(desk.dp.feed_raw_update(desk.bot, {"update_id": 900 + n, "callback_query":
                                                              desk.stub.callback_query(dm, who, data)})
                           for n, who in enumerate((engineer, architect))))
    await desk.flush()
    answers = {c.params["callback_query_id"]: c.params["text"] for c in desk.stub.find("answerCallbackQuery", mark)}
    assert sorted("ACME-1 is yours" in text for text in answers.values()) == [False, True], answers
    assert len([text for text in answers.values() if "already taken by" in text]) == 1, answers
    incident = await Incident.get(key="ACME-1")
    assert incident.assignee_id in (ENGINEER, ARCHITECT)
    assert await IncidentEvent.filter(incident=incident, kind="taken").count() == 1
    assert len([t for t in desk.replies(GROUP, mark) if "ACME-1: an engineer is on it" in t]) == 1


async def test_dedicated_engineer_of_a_premium_customer_gets_the_reminder(desk_at):
    desk = await desk_at("premium", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    await customers.set_field("ACME", "engineer", str(ARCHITECT), desk.dp["desk"].sla, desk.clock.now())
    await desk.say(GROUP, customer, "Problem")
    await run_until(desk, datetime(2026, 3, 16, 2, 10, 15, tzinfo=MSK))
    assert len(dms(desk, ARCHITECT, "⏰ ACME-1")) == 1 and len(dms(desk, NIGHT_ENGINEER, "⏰ ACME-1")) == 1


async def test_a_dedicated_engineer_of_a_non_premium_customer_is_not_pinged(desk_at):
    desk = await desk_at("24x7", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    await customers.set_field("ACME", "engineer", str(ARCHITECT), desk.dp["desk"].sla, desk.clock.now())
    await desk.say(GROUP, customer, "Problem")
    await run_until(desk, datetime(2026, 3, 16, 2, 45, 15, tzinfo=MSK))  # the reminder is at 02:45
    assert len(dms(desk, NIGHT_ENGINEER, "⏰ ACME-1")) == 1
    assert [m["text"] for m in desk.stub.delivered if int(m["chat_id"]) == ARCHITECT] == []


async def test_a_due_moment_left_on_an_answered_incident_is_cleared_and_holds_nothing_up(desk_at):
    """Answering clears `next_due_at`; a row where it was left set (an older version, an edit by hand) is
    cleared by the tick, owes no ping, and the incidents after it in the same tick still get theirs."""
    desk = await desk_at("premium", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    other = GROUP - 1
    await customers.bind_by_code("ACME", "telegram", str(other), "Acme", "supergroup", LEAD, desk.clock.now())
    desk.stub.chat(other, "Acme")
    await desk.say(GROUP, customer, "Всё упало")  # ACME-1
    desk.clock.advance(timedelta(minutes=1))
    await desk.say(other, customer, "Не работает выгрузка")  # ACME-2: its reminder is due at 02:11
    await desk.say(ENGINEER, engineer, "/take ACME-1")
    await run_until(desk, datetime(2026, 3, 16, 2, 10, 45, tzinfo=MSK))
    left = datetime(2026, 3, 16, 2, 5, tzinfo=MSK).astimezone(UTC)  # in UTC, as the desk writes its moments
    await Incident.filter(key="ACME-1").update(next_due_at=left)
    desk.clock.set(datetime(2026, 3, 16, 2, 11, tzinfo=MSK))
    await desk.tick.run()  # one tick finds both: ACME-1 first
    assert (await Incident.get(key="ACME-1")).next_due_at is None
    reminders = await Outbox.filter(kind="reminder").values_list("incident__key", "created_at")
    assert {(key, at.astimezone(MSK)) for key, at in reminders} == {
        ("ACME-2", datetime(2026, 3, 16, 2, 11, tzinfo=MSK))}


async def test_the_pings_a_tick_owes_are_counted_in_the_metrics(desk_at):
    def owed(kind: str) -> float:
        return REGISTRY.get_sample_value("dutydesk_pings_owed_total", {"kind": kind}) or 0.0

    desk = await desk_at("premium", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    await customers.bind_by_code("ACME", "telegram", str(GROUP - 1), "Acme", "supergroup", LEAD, desk.clock.now())
    desk.stub.chat(GROUP - 1, "Acme")
    for chat in (GROUP, GROUP - 1):  # two incidents, both reminded in the 02:10 tick
        await desk.say(chat, customer, "Problem")
    before = owed("reminder")
    await run_until(desk, datetime(2026, 3, 16, 2, 10, 15, tzinfo=MSK))
    assert owed("reminder") == before + 2  # incidents reminded, not people told
    assert desk.tick.heartbeat.errors == 0


async def test_nobody_on_call_means_the_leads_hear(desk_at):
    desk = await desk_at("24x7", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    await Rotation.filter(shift="night").delete()
    await desk.say(GROUP, customer, "Problem")
    assert len(dms(desk, LEAD, "🆕 ACME-1")) == 1


async def test_gap_warning_once_a_day_at_noon(desk_at):
    desk = await desk_at("24x7", datetime(2026, 3, 16, 11, 0, tzinfo=MSK))
    await Rotation.filter(shift="night").update(members=[])
    await run_until(desk, datetime(2026, 3, 16, 11, 59, tzinfo=MSK), step=timedelta(minutes=1))
    assert dms(desk, LEAD, "nobody on duty") == []
    await run_until(desk, datetime(2026, 3, 16, 14, 0, tzinfo=MSK), step=timedelta(minutes=1))
    warning = dms(desk, LEAD, "nobody on duty")
    assert len(warning) == 1 and "night: 16.03 19:00 – 17.03 10:00" in warning[0]["text"]


async def test_a_minute_without_telegram_during_a_burst_and_a_due_reminder(desk_at):
    """A simulated minute (the injected clock, no real waiting) in which every message Telegram is sent
    fails with a 500 or a dropped connection, while a burst opens incidents and a reminder falls due:
    afterwards everything owed has arrived, once. (The real-process fault test covers 429 too.)"""
    desk = await desk_at("premium", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    others = [GROUP - n for n in range(1, 5)]
    for chat in others:
        await customers.bind_by_code("ACME", "telegram", str(chat), "Acme", "supergroup", LEAD, desk.clock.now())
        desk.stub.chat(chat, "Acme")
    await desk.say(GROUP, customer, "Всё упало")  # ACME-1: its reminder is due at 02:10
    await run_until(desk, datetime(2026, 3, 16, 2, 9, 30, tzinfo=MSK))

    desk.stub.outage_faults = [SERVER_ERROR, DROP_CONNECTION]
    desk.stub.outage_until = time.monotonic() + 3600  # until the test ends it
    for n in range(20):  # four new incidents, their acknowledgements and pings owed
        await desk.say(others[n % 4], customer, f"message {n}: не работает выгрузка")
    await run_until(desk, datetime(2026, 3, 16, 2, 10, 30, tzinfo=MSK), step=timedelta(seconds=5))
    assert dms(desk, NIGHT_ENGINEER, "⏰") == [] and desk.stub.outage_count > 0  # nothing got through
    desk.stub.outage_until = 0

    await run_until(desk, datetime(2026, 3, 16, 2, 12, tzinfo=MSK), step=timedelta(seconds=5))
    sent = Counter(m["text"] for m in desk.stub.delivered)
    assert set(sent.values()) == {1}, sent  # nothing doubled
    assert len(dms(desk, NIGHT_ENGINEER, "⏰ ACME-1")) == 1
    assert sorted(re.search(r"ACME-\d+", m["text"]).group(0) for m in dms(desk, NIGHT_ENGINEER, "🆕")) == [
        "ACME-1", "ACME-2", "ACME-3", "ACME-4", "ACME-5"]
    acked = [m for m in desk.stub.delivered if "is registered" in m["text"]]
    assert sorted(int(m["chat_id"]) for m in acked) == sorted([GROUP, *others])
    assert await Outbox.filter(status__not="sent").count() == 0
    assert max(await Outbox.all().values_list("attempts", flat=True)) >= 5  # the backoff grew through the minute


async def test_the_leads_are_active_lead_staff_and_lead_ids(db):
    from domain import alerts
    from domain.models import Staff

    now = datetime(2026, 3, 16, 12, 0, tzinfo=MSK)
    for user_id, role in ((5001, "lead"), (5002, "lead"), (5003, "engineer")):
        await people.register_staff(user_id, role, LEAD, now)
    await Staff.filter(user_id=5002).update(active=False)  # removed: hears nothing any more
    assert await alerts.leads([LEAD, 7]) == [7, LEAD, 5001]


async def test_a_ping_the_on_call_engineer_cannot_receive_goes_to_the_leads(desk_at):
    desk = await desk_at("premium", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    desk.stub.forbidden_chats.add(NIGHT_ENGINEER)  # blocked the bot
    await desk.say(GROUP, customer, "Всё упало")
    await desk.flush()
    assert dms(desk, NIGHT_ENGINEER) == []
    rerouted = dms(desk, LEAD, "🆕 ACME-1")
    assert len(rerouted) == 1 and "Could not deliver" in rerouted[0]["text"]


async def test_each_ping_is_written_in_its_recipients_language(desk_at):
    from domain.models import Person

    desk = await desk_at("premium", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    await Person.filter(id=NIGHT_ENGINEER).update(lang="ru")
    await desk.say(GROUP, customer, "Всё упало")
    assert "Срок ответа (SLA)" in dms(desk, NIGHT_ENGINEER, "🆕 ACME-1")[0]["text"]


async def test_pings_are_owed_ahead_of_a_backlog_of_notices(desk_at):
    from domain import outbox

    desk = await desk_at("premium", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    for n in range(30):
        await owe_text(-1000 - n, f"notice {n}", desk.clock.now(), kind="notice", rank=outbox.RANK_NOTICE)
    await desk.dp.feed_raw_update(desk.bot, {"update_id": 4242, "message": desk.stub.make_message(
        GROUP, customer, "Всё упало", date=int(desk.clock.now().timestamp()))})
    await desk.outbox.drain_once(limit=2)  # one round of two: the acknowledgement and the ping first
    texts = [m["text"] for m in desk.stub.delivered]
    assert any(text.startswith("🆕 ACME-1") for text in texts), texts
    assert not [text for text in texts if text.startswith("notice")], texts
