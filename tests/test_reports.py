"""Reports against hand-computed fixtures, the chart and the CSV, periodic delivery, quotes, notices, escalation."""

import csv
import io
import struct
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import customers, people, report_chart, reports
from domain.models import Customer, Incident, IncidentEvent
from domain.sla import Sla
from locales import report_text
from scheduler.jobs import Heartbeat, Tick
from tests.channels import tg_conversation
from tests.people import ARCHITECT, ENGINEER, GROUP, LEAD, OTHER_GROUP, architect, engineer, lead

MSK = ZoneInfo("Europe/Moscow")
EKB = ZoneInfo("Asia/Yekaterinburg")


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MSK)


async def incident(customer, n, priority, opened, sla, responded=None, resolved=None, rating=None):
    return await Incident.create(
        key=f"{customer.code}-{n}", number=n, customer=customer, plan=customer.plan, conversation=await tg_conversation(GROUP), priority=priority,
        title=f"problem {n}", opened_at=opened, deadline=sla.deadline(customer.plan, priority, opened),
        responded_at=responded, last_activity_at=opened, resolved_at=resolved, rating=rating,
        status="resolved" if resolved else ("in_progress" if responded else "new"))


@pytest.fixture
async def march(desk):
    sla = desk.dp["desk"].sla
    acme = await customers.add_customer("ACME", "8x5", "Acme", msk(2026, 1, 1))
    await incident(acme, 1, "P1", msk(2026, 3, 2, 10, 0), sla, msk(2026, 3, 2, 10, 30), msk(2026, 3, 2, 12, 0), 5)
    await incident(acme, 2, "P2", msk(2026, 3, 3, 18, 30), sla, msk(2026, 3, 4, 10, 45), msk(2026, 3, 5, 12, 0), 3)
    await incident(acme, 3, "P4", msk(2026, 3, 10, 12, 0), sla, msk(2026, 3, 10, 12, 10))
    await incident(acme, 4, "P3", msk(2026, 2, 27, 12, 0), sla, msk(2026, 2, 27, 12, 5), msk(2026, 3, 2, 9, 0), 4)
    await incident(acme, 5, "P1", msk(2026, 3, 20, 12, 0), sla)
    await incident(acme, 6, "P4", msk(2026, 4, 1, 12, 0), sla)
    return desk, acme, sla


MARCH = reports.month(date(2026, 3, 1), MSK)


async def test_report_numbers_match_the_hand_computed_fixture(march):
    _, acme, sla = march
    report = await reports.build([acme], MARCH, msk(2026, 4, 2), sla, MSK)
    assert report.opened == {"P1": 2, "P2": 1, "P3": 0, "P4": 1}
    assert report.resolved == {"P1": 1, "P2": 1, "P3": 1, "P4": 0}  # ACME-4 was opened in February
    assert [r[1] for r in report.reactions] == [timedelta(minutes=30), timedelta(minutes=75), timedelta(minutes=10)]
    assert report.median == timedelta(minutes=30) and report.p90 == timedelta(minutes=75)
    assert (report.met, report.measured) == (2, 4)
    assert report.breaches == [("ACME-2", "P2", timedelta(minutes=15)), ("ACME-5", "P1", None)]
    assert report.average_rating == 4.0
    assert [i.key for i in report.still_open] == ["ACME-3", "ACME-5"]
    assert [key for key, _ in report.recommendations] == ["recommend.staffing"]
    text = report_text.render(report, "en", "Acme (ACME)")
    for line in ("Support report: Acme (ACME), 01.03.2026 – 31.03.2026",
                 "Incidents opened: 4 (P1 2, P2 1, P3 0, P4 1)",
                 "Response time: median 30 min, 90th percentile 1 h 15 min",
                 "Answered in time: 50% (2 of 4)",
                 "Breaches (2): ACME-2 P2 late by 15 min, ACME-5 P1 unanswered",
                 "Average rating: 4 of 5 (3 ratings)", "Still open (2): ACME-3 (P4), ACME-5 (P1)",
                 "Recommendations:"):
        assert line in text
    ru = report_text.render(report, "ru", "Acme (ACME)", for_leads=False)
    for line in ("Время ответа: медиана 30 мин, 90-й перцентиль 1 ч 15 мин", "Средняя оценка: 4 из 5 (3 оценки)"):
        assert line in ru
    assert "Рекомендации" not in ru  # advice to the team stays out of the customer's copy


async def test_empty_period(march):
    _, acme, sla = march
    period = reports.month(date(2025, 6, 1), MSK)
    report = await reports.build([acme], period, msk(2026, 4, 2), sla, MSK)
    assert report.total_opened == 0 and report.median is None and report.share_met is None
    text = report_text.render(report, "ru", "Acme")
    assert "Время ответа: ответов за период не было" in text and "Нарушений нет" in text
    assert len(report.weekly) == 6  # June 2025 (1st a Sunday) touches six weeks; empty ones still get a bar


async def test_pending_incident_is_not_yet_a_breach(march):
    _, acme, sla = march
    report = await reports.build([acme], MARCH, msk(2026, 3, 20, 12, 30), sla, MSK)
    assert ("ACME-5", "P1", None) not in report.breaches and report.measured == 3


async def test_chart_is_a_real_png_of_the_expected_size(march):
    _, acme, sla = march
    report = await reports.build([acme], MARCH, msk(2026, 4, 2), sla, MSK)
    png = report_chart.render(report, report_text.chart_labels(report, "ru", "Acme"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1000, 700)


async def test_report_and_export_commands(march):
    desk, _, _ = march
    desk.clock.set(msk(2026, 4, 2, 12, 0))
    await desk.say(LEAD, lead, "/report ACME 2026-03")
    assert "Incidents opened: 4" in desk.last_reply(LEAD)
    assert [int(c.params["chat_id"]) for c in desk.stub.find("sendPhoto")] == [LEAD]  # the chart
    await desk.say(LEAD, lead, "/export ACME 2026-03")
    call = desk.stub.find("sendDocument")[-1]
    attached = call.params["document"].removeprefix("attach://")
    parsed = list(csv.DictReader(io.StringIO(call.params["files"][attached].decode("utf-8"))))
    assert [r["key"] for r in parsed] == ["ACME-1", "ACME-2", "ACME-3", "ACME-5"]
    assert [r["sla"] for r in parsed] == ["met", "breached", "met", "breached"]
    assert parsed[1]["reaction_seconds"] == "4500" and parsed[0]["rating"] == "5"
    await desk.say(LEAD, lead, "/sla_report 2026-03")
    assert "ACME: opened 4, in time 50%, breaches 2" in desk.last_reply(LEAD)
    await desk.say(LEAD, lead, "/report ACME 2026-13")
    assert "is not a period" in desk.last_reply(LEAD)


async def test_periodic_weekly_report_in_the_customers_zone_once_across_a_restart(desk):
    now = datetime(2026, 3, 16, 9, 0, tzinfo=EKB)
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await customers.set_field("ACME", "tz", ZoneInfo("Asia/Yekaterinburg"), desk.dp["desk"].sla, now)
    await customers.set_field("ACME", "report", "weekly", desk.dp["desk"].sla, now)
    desk.stub.chat(GROUP, "Acme")
    desk.clock.set(datetime(2026, 3, 16, 9, 59, tzinfo=EKB))  # Monday, a minute before 10:00 local
    tick = Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat())
    await tick.run()
    await desk.flush()
    assert not [m for m in desk.stub.delivered if "Support report" in m.get("text", "")]
    desk.clock.set(datetime(2026, 3, 16, 10, 0, tzinfo=EKB))
    await tick.run()
    restarted = Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat())
    desk.clock.advance(timedelta(minutes=1))
    await restarted.run()
    await desk.flush()
    texts = [(int(m["chat_id"]), m["text"]) for m in desk.stub.delivered if "Support report" in m.get("text", "")]
    assert sorted(chat for chat, _ in texts) == sorted([GROUP, LEAD])
    assert "09.03.2026 – 15.03.2026" in texts[0][1]
    photos = [c for c in desk.stub.calls if c.method == "sendPhoto"]
    assert len(photos) == 2


def test_scheduled_moments():
    due, period = reports.scheduled("monthly", msk(2026, 4, 1, 10, 0), MSK)
    assert due == msk(2026, 4, 1, 10, 0) and period.first_day == date(2026, 3, 1)
    due, period = reports.scheduled("monthly", msk(2026, 4, 1, 9, 59), MSK)
    assert due == msk(2026, 3, 1, 10, 0) and period.first_day == date(2026, 2, 1)
    due, period = reports.scheduled("quarterly", msk(2026, 5, 20), MSK)
    assert due == msk(2026, 4, 1, 10, 0) and (period.first_day, period.last_day) == (date(2026, 1, 1), date(2026, 3, 31))


@pytest.mark.parametrize(("command", "expected"), [
    ("/quote 24x7 1000 2 cluster", "24x7: 1,000 users, 2 CTS servers, fault tolerance: cluster — 217,000\u00a0₽ per month"),
    ("/quote 8x5 0 0 none", "8x5: 0 users, 0 CTS servers, fault tolerance: none — 50,000\u00a0₽ per month"),
    ("/quote premium 10000 4 standby",
     "Premium: 10,000 users, 4 CTS servers, fault tolerance: standby server — 852,000\u00a0₽ per month"),
    ("/quote warranty 1 1 none", "Warranty: 1 user, 1 CTS server, fault tolerance: none — not priced per month"),
    ("/quote gold 1 1 none", "Unknown plan “gold”. Plans: warranty 8x5 24x7 premium."),
    ("/quote 8x5 many 1 none", "Usage: /quote PLAN USERS CTS HA — PLAN 8x5|24x7|premium, USERS and CTS whole numbers, HA none|standby|cluster"),
    ("/quote 8x5 1 1 raid", "ha must be one of: none standby cluster (not “raid”)."),
])
async def test_quotes(desk, command, expected):
    await desk.say(LEAD, lead, command)
    assert desk.last_reply(LEAD) == expected


async def test_announce_reaches_the_chosen_customers_naming_contacts(desk):
    now = desk.clock.now()
    sla = desk.dp["desk"].sla
    await customers.add_customer("ACME", "premium", "Acme", now)
    await customers.add_customer("BETA", "8x5", "Beta", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await customers.bind_by_code("BETA", "telegram", str(OTHER_GROUP), "Beta", "supergroup", LEAD, now)
    await customers.set_field("ACME", "contact", "Ivan Petrov (CIO)", sla, now)
    await desk.say(LEAD, lead, "/announce premium Planned update on Sunday 02:00–04:00")
    assert "queued: 1 chat, 1 customer." in desk.last_reply(LEAD)
    assert "Planned update on Sunday" in desk.last_reply(GROUP) and "Ivan Petrov (CIO)" in desk.last_reply(GROUP)
    assert not desk.replies(OTHER_GROUP)
    await desk.say(LEAD, lead, "/announce all Maintenance tonight")
    assert "queued: 2 chats, 2 customers." in desk.last_reply(LEAD)
    await desk.say(LEAD, lead, "/announce beta Only for Beta")
    assert "queued: 1 chat, 1 customer." in desk.last_reply(LEAD)
    assert "Only for Beta" in desk.last_reply(OTHER_GROUP) and "Only for Beta" not in desk.last_reply(GROUP)
    await desk.say(LEAD, lead, "/announce NOPE Hello")
    assert "No customer with code NOPE" in desk.last_reply(LEAD)


async def test_escalation_reaches_every_expert_and_nobody_else(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    acme = await Customer.get(code="ACME")
    await incident(acme, 1, "P1", now, Sla(desk.settings.policy))
    second_architect = 2004
    for user_id, role in ((ARCHITECT, "architect"), (second_architect, "architect"), (ENGINEER, "engineer"),
                          (2005, "developer")):
        await people.register_staff(user_id, role, LEAD, now)
    await desk.say(ENGINEER, engineer, "/escalate ACME-1 architect cluster failover does not start")
    assert "ACME-1 escalated — architect, 2 recipients." in desk.last_reply(ENGINEER)
    got = {int(m["chat_id"]) for m in desk.stub.delivered if m["text"].startswith("🧭 Escalation: ACME-1")}
    assert got == {ARCHITECT, second_architect}
    event = await IncidentEvent.get(kind="escalated")
    assert event.data == {"role": "architect", "note": "cluster failover does not start"}
    await desk.say(ARCHITECT, architect, "/incident ACME-1")
    assert "escalated to architect: cluster failover does not start" in desk.last_reply(ARCHITECT)
    await desk.say(ENGINEER, engineer, "/escalate ACME-1 manager")
    assert desk.last_reply(ENGINEER) == "Usage: /escalate KEY architect|developer [note]"


@pytest.mark.parametrize(("late", "sent"), [(timedelta(hours=23, minutes=59), True),
                                           (timedelta(days=1, minutes=1), False)], ids=["within-a-day", "over-a-day"])
async def test_a_report_missed_by_over_a_day_is_left_to_the_command(desk, late, sent):
    """The bot was down at Monday 10:00 (the weekly report's moment): it catches up within a day, not after."""
    now = datetime(2026, 3, 13, 12, 0, tzinfo=MSK)
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await customers.set_field("ACME", "report", "weekly", desk.dp["desk"].sla, now)
    desk.clock.set(datetime(2026, 3, 16, 10, 0, tzinfo=MSK) + late)  # the first tick after the outage
    tick = Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat())
    await tick.run()
    desk.clock.advance(timedelta(minutes=1))
    await tick.run()
    await desk.flush()
    chats = sorted(int(m["chat_id"]) for m in desk.stub.delivered if "Support report" in m.get("text", ""))
    assert chats == (sorted([GROUP, LEAD]) if sent else [])
