"""The deadlines shown in chat are the SLA engine's: the spec's table cases, as customers and staff see them."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import customers, people
from domain.models import Incident
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer, lead

MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture
async def desk_with(desk):
    async def make(plan: str, at: datetime):
        desk.clock.set(at)
        await customers.add_customer("ACME", plan, "Acme", at)
        await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, at)
        await people.register_staff(ENGINEER, "engineer", None, at)
        desk.stub.chat(GROUP, "Acme")
        return desk
    return make


async def test_friday_evening_8x5_p1(desk_with):
    desk = await desk_with("8x5", datetime(2026, 3, 13, 18, 30, tzinfo=MSK))
    await desk.say(GROUP, customer, "Сервис недоступен")
    ack = desk.last_reply(GROUP)
    # The customer's time with its zone label, a weekday within the week, and the fixed target.
    assert "We will answer by Mon 16.03 10:30 MSK (within 1 h)." in ack
    assert "clock starts" not in ack


async def test_night_8x5_says_when_the_clock_starts(desk_with):
    desk = await desk_with("8x5", datetime(2026, 3, 16, 2, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Ошибка в отчёте")
    ack = desk.last_reply(GROUP)
    assert "We will answer by today 11:00 MSK (within 1 h of working time)." in ack
    assert "Outside support hours: the clock starts today 10:00 MSK." in ack
    assert ack.index("clock starts") < ack.index("We will answer")


async def test_premium_before_midnight_in_the_customers_zone(desk_with):
    desk = await desk_with("premium", datetime(2026, 3, 13, 23, 50, tzinfo=MSK))
    await customers.set_field("ACME", "tz", ZoneInfo("Asia/Yekaterinburg"), desk.dp["desk"].sla, desk.clock.now())
    await desk.say(GROUP, customer, "Всё упало")
    # 23:50 in Moscow is 01:50 on the 14th in Yekaterinburg: "today" is the customer's day.
    assert "We will answer by today 02:05 MSK+2 (within 15 min)." in desk.last_reply(GROUP)


async def test_status_and_incidents_show_time_left(desk_with):
    desk = await desk_with("24x7", datetime(2026, 3, 13, 12, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Problem")
    desk.clock.advance(timedelta(minutes=20))
    await desk.say(GROUP, customer, "/status")
    assert "we will answer by today 13:00 MSK (40 min left)" in desk.last_reply(GROUP)
    desk.clock.advance(timedelta(minutes=50))
    await desk.say(ENGINEER, engineer, "/incidents")
    assert "overdue by 10 min" in desk.last_reply(ENGINEER)
    await desk.say(ENGINEER, engineer, "/incident ACME-1")
    assert "Response due (SLA): today 13:00 MSK (overdue by 10 min)." in desk.last_reply(ENGINEER)
    await desk.say(ENGINEER, engineer, "/take ACME-1")
    await desk.say(ENGINEER, engineer, "/incident ACME-1")
    assert "Responded in 1 h 10 min of working time, target 1 h: breached." in desk.last_reply(ENGINEER)


async def test_priority_change_recomputes_from_the_start(desk_with):
    desk = await desk_with("warranty", datetime(2026, 3, 16, 10, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Медленно работает отчёт")  # P3: 16 working hours
    assert (await Incident.get(key="ACME-1")).deadline == datetime(2026, 3, 17, 17, 0, tzinfo=MSK)
    desk.clock.advance(timedelta(hours=3))
    await desk.say(ENGINEER, engineer, "/priority ACME-1 P1")  # P1: 8 working hours from 10:00, not from now
    assert (await Incident.get(key="ACME-1")).deadline == datetime(2026, 3, 16, 18, 0, tzinfo=MSK)
    assert "We will answer by today 18:00 MSK." in desk.last_reply(ENGINEER)


async def test_plan_change_moves_open_deadlines(desk_with):
    desk = await desk_with("8x5", datetime(2026, 3, 14, 12, 0, tzinfo=MSK))  # a Saturday
    await desk.say(GROUP, customer, "Problem")
    assert (await Incident.get(key="ACME-1")).deadline == datetime(2026, 3, 16, 11, 0, tzinfo=MSK)
    await desk.say(LEAD, lead, "/customer_set ACME plan premium")
    incident = await Incident.get(key="ACME-1")
    assert incident.plan == "premium" and incident.deadline == datetime(2026, 3, 14, 12, 15, tzinfo=MSK)


async def test_sla_command_shows_the_policy(desk_with):
    desk = await desk_with("8x5", datetime(2026, 3, 16, 12, 0, tzinfo=MSK))
    await desk.say(LEAD, lead, "/sla")
    text = desk.last_reply(LEAD)
    assert "Premium — always — P1–P4: 15 min — 5 min — yes" in text
    assert "Warranty — business — P1, P2: 8 h; P3, P4: 16 h — 1 h — no" in text
    assert "business: MSK (Europe/Moscow), 10:00–19:00, Mon–Fri; public holidays of Russia" in text
    assert "night: 19:00–10:00 (MSK)" in text
    assert "repeated every 15 min, at most 3 times" in text
