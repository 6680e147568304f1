"""Reminders and breach repeats follow the plan's calendar: an 8x5 incident is never pinged outside its
hours (the injected clock runs across a Friday evening, a weekend and a night)."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import alerts, customers, people
from domain.models import Incident, Outbox, Rotation
from domain.policy import load_policy
from domain.sla import Sla
from scheduler.jobs import Heartbeat, Tick
from tests.people import ENGINEER, GROUP, LEAD, OTHER_GROUP, customer, engineer, lead

MSK = ZoneInfo("Europe/Moscow")
NIGHT_ENGINEER = 2010
night_engineer = {"id": NIGHT_ENGINEER, "is_bot": False, "first_name": "Nina", "username": "night_nina"}
PING_KINDS = ("new", "reminder", "breach", "repeat")


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MSK)


@pytest.fixture
async def desk_8x5(desk):
    async def make(at: datetime):
        desk.clock.set(at)
        now = desk.clock.now()
        await customers.add_customer("ACME", "8x5", "Acme", now)
        await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
        for user in (engineer, night_engineer):
            await people.register_staff(user["id"], "engineer", LEAD, now)
            await people.seen(user["id"], user.get("username"), user["first_name"], now)
        await Rotation.create(shift="day", mode="daily", members=[ENGINEER], anchor=date(2026, 3, 1), updated_at=now)
        await Rotation.create(shift="night", mode="daily", members=[NIGHT_ENGINEER], anchor=date(2026, 3, 1),
                              updated_at=now)
        desk.stub.chat(GROUP, "Acme")
        desk.tick = Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat())
        return desk
    return make


async def run_until(desk, moment: datetime, step: timedelta) -> None:
    while desk.clock.now() + step <= moment:
        desk.clock.advance(step)
        await desk.tick.run()
        await desk.flush()


async def pings() -> list[tuple[str, datetime, int]]:
    """Every ping owed so far: its kind, the moment it was owed (Moscow time) and to whom."""
    rows = await Outbox.filter(kind__in=PING_KINDS).order_by("id")
    return [(r.kind, r.created_at.astimezone(MSK), r.person_id) for r in rows]


def at_night(moment: datetime) -> bool:
    """Outside 10:00–19:00 on a weekday; 19:00 itself is the closing minute, when a deadline may fall."""
    local = moment.astimezone(MSK)
    closing = (local.hour, local.minute) == (19, 0)
    return local.weekday() >= 5 or not (10 <= local.hour < 19 or closing)


async def test_a_breach_at_closing_repeats_next_morning_not_at_night(desk_8x5):
    desk = await desk_8x5(msk(2026, 3, 16, 18, 0))  # Monday
    await desk.say(GROUP, customer, "Всё упало")  # P1, due 19:00
    await run_until(desk, msk(2026, 3, 16, 19, 1), timedelta(seconds=15))
    owed = await pings()
    assert [(k, t) for k, t, _ in owed if k == "reminder"] == [("reminder", msk(2026, 3, 16, 18, 45))]
    assert {(k, t, who) for k, t, who in owed if k == "breach"} >= {("breach", msk(2026, 3, 16, 19, 0), LEAD)}

    await run_until(desk, msk(2026, 3, 17, 10, 0), timedelta(minutes=5))  # the night: nobody is woken
    assert [p for p in await pings() if p[0] == "repeat"] == []
    assert not [m for m in desk.stub.delivered if "Still no response" in m["text"]]

    await run_until(desk, msk(2026, 3, 17, 11, 0), timedelta(seconds=15))
    repeats = [(t, who) for k, t, who in await pings() if k == "repeat"]
    moments = [msk(2026, 3, 17, 10, 15), msk(2026, 3, 17, 10, 30), msk(2026, 3, 17, 10, 45)]
    assert sorted(repeats) == sorted([(m, who) for m in moments for who in (ENGINEER, LEAD)])
    assert (await Incident.get(key="ACME-1")).next_due_at is None


async def test_a_friday_evening_incident_is_reminded_on_friday_and_never_over_the_weekend(desk_8x5):
    desk = await desk_8x5(msk(2026, 3, 13, 18, 5))  # Friday
    await desk.say(GROUP, customer, "Сервер недоступен")  # P1, due Monday 10:05
    await run_until(desk, msk(2026, 3, 13, 19, 0), timedelta(seconds=15))
    assert [(k, t, who) for k, t, who in await pings()] == [
        ("new", msk(2026, 3, 13, 18, 5), ENGINEER), ("reminder", msk(2026, 3, 13, 18, 50), ENGINEER)]

    await run_until(desk, msk(2026, 3, 16, 10, 0), timedelta(minutes=10))  # the weekend and Monday's night
    assert len(await pings()) == 2
    await run_until(desk, msk(2026, 3, 16, 11, 0), timedelta(seconds=15))
    owed = await pings()
    assert [t for k, t, who in owed if k == "breach" and who == LEAD] == [msk(2026, 3, 16, 10, 5)]
    assert [t for k, t, who in owed if k == "repeat" and who == ENGINEER] == [
        msk(2026, 3, 16, 10, 20), msk(2026, 3, 16, 10, 35), msk(2026, 3, 16, 10, 50)]
    assert not [p for p in owed if at_night(p[1])]


async def test_a_ping_missed_while_away_waits_for_the_calendar(desk_8x5):
    desk = await desk_8x5(msk(2026, 3, 13, 18, 5))
    await desk.say(GROUP, customer, "Сервер недоступен")  # reminder due Friday 18:50
    desk.clock.set(msk(2026, 3, 14, 3, 0))  # the process was away all evening; the first tick is at 03:00
    await desk.tick.run()
    await desk.flush()
    assert [k for k, _, _ in await pings()] == ["new"]
    assert (await Incident.get(key="ACME-1")).next_due_at == msk(2026, 3, 16, 10, 0)
    # The weekend in five-minute ticks (a ping there would still be owed at one of them), the opening at 15 s.
    await run_until(desk, msk(2026, 3, 16, 9, 55), timedelta(minutes=5))
    await run_until(desk, msk(2026, 3, 16, 10, 6), timedelta(seconds=15))
    owed = [(k, t) for k, t, who in await pings() if who == ENGINEER]
    assert owed[:3] == [("new", msk(2026, 3, 13, 18, 5)), ("reminder", msk(2026, 3, 16, 10, 0)),
                        ("breach", msk(2026, 3, 16, 10, 5))]


def test_which_late_pings_may_still_go_out():
    sla = Sla(load_policy(None))
    closing = msk(2026, 3, 16, 19, 0)
    assert alerts.may_fire("8x5", closing, closing + timedelta(seconds=15), sla)  # a deadline at closing: a tick late
    assert not alerts.may_fire("8x5", closing, closing + timedelta(minutes=6), sla)  # an outage over the evening
    # A moment an older version computed in wall-clock time (a repeat at 19:15) waits for the morning.
    assert not alerts.may_fire("8x5", msk(2026, 3, 16, 19, 15), msk(2026, 3, 16, 19, 15), sla)
    assert alerts.may_fire("8x5", msk(2026, 3, 13, 18, 50), msk(2026, 3, 16, 10, 0), sla)  # open again: go
    night = datetime(2026, 3, 16, 0, 0, tzinfo=UTC)
    assert alerts.may_fire("24x7", night - timedelta(hours=1), night, sla)  # the always-calendar is never closed
    # A tick slower than the default grace (SCHEDULER_TICK=10m) still fires a breach at closing on time.
    assert alerts.may_fire("8x5", closing, closing + timedelta(minutes=9), sla, grace=timedelta(minutes=20))


async def test_a_plan_change_moves_the_next_ping_to_the_new_deadline(desk_8x5):
    desk = await desk_8x5(msk(2026, 3, 14, 12, 0))  # a Saturday: 8x5 is closed, its reminder is Monday's
    await desk.say(GROUP, customer, "Сервер недоступен")
    assert (await Incident.get(key="ACME-1")).next_due_at == msk(2026, 3, 16, 10, 45)
    await desk.say(LEAD, lead, "/customer_set ACME plan premium")  # premium: due 12:15, reminded at 12:10
    assert (await Incident.get(key="ACME-1")).next_due_at == msk(2026, 3, 14, 12, 10)
    await run_until(desk, msk(2026, 3, 14, 12, 16), timedelta(seconds=15))
    owed = [(k, t) for k, t, who in await pings() if who == ENGINEER]  # on call on Saturday's day shift
    assert owed == [("reminder", msk(2026, 3, 14, 12, 10)), ("breach", msk(2026, 3, 14, 12, 15))]


async def test_a_plan_change_after_the_reminder_keeps_the_stage(desk_8x5):
    desk = await desk_8x5(msk(2026, 3, 16, 10, 0))  # Monday, open: reminder 10:45, breach 11:00
    await desk.say(GROUP, customer, "Сервер недоступен")
    await run_until(desk, msk(2026, 3, 16, 10, 46), timedelta(seconds=15))
    await desk.say(LEAD, lead, "/customer_set ACME plan premium")  # due 10:15 now: the breach is next, at once
    assert (await Incident.get(key="ACME-1")).next_due_at == msk(2026, 3, 16, 10, 15)
    await run_until(desk, msk(2026, 3, 16, 10, 47), timedelta(seconds=15))
    owed = [(k, t) for k, t, who in await pings() if who == ENGINEER]
    assert owed[:3] == [("new", msk(2026, 3, 16, 10, 0)), ("reminder", msk(2026, 3, 16, 10, 45)),
                        ("breach", msk(2026, 3, 16, 10, 46, 15))]  # no second reminder


async def test_a_plan_change_after_a_response_owes_no_ping(desk_8x5):
    desk = await desk_8x5(msk(2026, 3, 16, 10, 0))
    await desk.say(GROUP, customer, "Сервер недоступен")
    await desk.say(ENGINEER, engineer, "/take ACME-1")
    await desk.say(LEAD, lead, "/customer_set ACME plan premium")
    incident = await Incident.get(key="ACME-1")
    assert incident.plan == "premium" and incident.next_due_at is None


async def test_a_breach_at_closing_found_exactly_the_grace_late_still_goes_out(desk_8x5):
    desk = await desk_8x5(msk(2026, 3, 16, 18, 0))  # Monday; P1 due 19:00, reminded at 18:45
    await desk.say(GROUP, customer, "Всё упало")
    await run_until(desk, msk(2026, 3, 16, 18, 59), timedelta(minutes=1))
    desk.clock.set(msk(2026, 3, 16, 19, 0) + alerts.LATE_GRACE)  # the process was away until 19:05
    await desk.tick.run()
    breach = msk(2026, 3, 16, 19, 5)
    assert [(k, t, who) for k, t, who in await pings() if k == "breach"] == [
        ("breach", breach, NIGHT_ENGINEER), ("breach", breach, LEAD)]


async def test_a_slow_tick_still_fires_a_breach_at_closing(desk_8x5):
    """With SCHEDULER_TICK=10m the first tick after a 19:00 deadline may come at 19:09, past LATE_GRACE:
    the tick's grace (two of its intervals) lets the breach go out then rather than at the next opening."""
    desk = await desk_8x5(msk(2026, 3, 16, 18, 0))  # Monday; P1 due 19:00, reminded at 18:45
    desk.tick = Tick(replace(desk.settings, scheduler_tick=timedelta(minutes=10)), desk.clock,
                     desk.dp["desk"].sla, Heartbeat())
    await desk.say(GROUP, customer, "Всё упало")
    await run_until(desk, msk(2026, 3, 16, 18, 59), timedelta(minutes=1))
    desk.clock.set(msk(2026, 3, 16, 19, 9))
    await desk.tick.run()
    breach = msk(2026, 3, 16, 19, 9)  # the night shift's now, and the lead's
    assert [(k, t, who) for k, t, who in await pings() if k == "breach"] == [
        ("breach", breach, NIGHT_ENGINEER), ("breach", breach, LEAD)]


async def test_an_8x5_ping_put_off_to_monday_holds_up_no_other_incident(desk_8x5):
    """The process was away from Friday evening; at its first tick an 8x5 reminder waits for Monday, while
    a premium customer's incidents, due in the same tick and later, get theirs on time."""
    desk = await desk_8x5(msk(2026, 3, 13, 18, 5))  # Friday: ACME (8x5) is reminded at 18:50
    await desk.say(GROUP, customer, "Сервер недоступен")
    desk.clock.set(msk(2026, 3, 14, 2, 50))  # Saturday night; nothing ticked since Friday
    await customers.add_customer("BETA", "premium", "Beta", desk.clock.now())
    for chat in (OTHER_GROUP, OTHER_GROUP - 1):
        await customers.bind_by_code("BETA", "telegram", str(chat), "Beta", "supergroup", LEAD, desk.clock.now())
        desk.stub.chat(chat, "Beta")
    await desk.say(OTHER_GROUP, customer, "Всё упало")  # BETA-1: reminded at 03:00
    desk.clock.set(msk(2026, 3, 14, 2, 55))
    await desk.say(OTHER_GROUP - 1, customer, "Всё упало")  # BETA-2: reminded at 03:05
    desk.clock.set(msk(2026, 3, 14, 3, 0))
    await desk.tick.run()  # ACME-1 (Friday 18:50) first, then BETA-1
    await run_until(desk, msk(2026, 3, 14, 3, 6), timedelta(seconds=15))
    reminders = await Outbox.filter(kind="reminder", person_id=NIGHT_ENGINEER).values_list(
        "incident__key", "created_at")
    assert sorted((key, at.astimezone(MSK)) for key, at in reminders) == [
        ("BETA-1", msk(2026, 3, 14, 3, 0)), ("BETA-2", msk(2026, 3, 14, 3, 5))]
    assert (await Incident.get(key="ACME-1")).next_due_at == msk(2026, 3, 16, 10, 0)
