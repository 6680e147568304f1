"""The desk page's rules and reads (domain.desk_page) on a real database: who gets in, for how long, and what
the page shows. The browser tests (test_desk_browser.py) show the same through Chromium."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import customers, people
from domain import desk_page as page
from domain.errors import DeskError
from domain.models import DeskLogin, DeskSession, Incident, Outbox, Override, Rotation, UnboundMessage, WallboardLink
from tests.people import ARCHITECT, CUSTOMER, ENGINEER, GROUP, LEAD, OTHER_GROUP, customer, engineer

MSK = ZoneInfo("Europe/Moscow")


async def reason(awaitable) -> str:
    with pytest.raises(DeskError) as caught:
        await awaitable
    return caught.value.key


# ---- sign-in links and sessions -------------------------------------------------------------------------
async def test_a_sign_in_link_is_for_staff_only_and_only_its_hash_is_kept(desk):
    now = desk.clock.now()
    assert await reason(desk_create(CUSTOMER, now)) == "desk.not_staff"
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    token = await desk_create(ENGINEER, now)
    assert len(token) >= 40  # 256 bits
    row = await DeskLogin.get(user_id=ENGINEER)
    assert row.token_hash != token and token not in row.token_hash and len(row.token_hash) == 64
    assert row.expires_at == now + timedelta(minutes=10)


def desk_create(user_id, now):
    return page.create_login(user_id, now)


async def test_a_sign_in_link_works_once_and_looking_at_it_uses_nothing(desk):
    now = desk.clock.now()
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    token = await page.create_login(ENGINEER, now)
    assert await page.check_login(token, now) == ENGINEER
    assert await page.check_login(token, now) == ENGINEER  # the page with the button changes nothing
    session = await page.redeem_login(token, now)
    assert session.user_id == ENGINEER and session.expires_at == now + timedelta(hours=12)
    assert await reason(page.redeem_login(token, now)) == "desk.link_used"
    assert await reason(page.check_login(token, now)) == "desk.link_used"
    assert await DeskSession.all().count() == 1
    assert await reason(page.redeem_login("not-a-token-anyone-made", now)) == "desk.link_unknown"
    stored = await DeskSession.get()
    assert stored.token_hash != session.token and len(stored.token_hash) == 64


async def test_a_sign_in_link_expires_after_ten_minutes(desk):
    now = desk.clock.now()
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    token = await page.create_login(ENGINEER, now)
    late = now + timedelta(minutes=10)
    assert await reason(page.redeem_login(token, late)) == "desk.link_expired"
    assert await DeskSession.all().count() == 0
    fresh = await page.create_login(ENGINEER, now)
    assert (await page.redeem_login(fresh, now + timedelta(minutes=9, seconds=59))).user_id == ENGINEER


async def test_a_link_made_before_its_engineer_left_signs_nobody_in(desk):
    now = desk.clock.now()
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    token = await page.create_login(ENGINEER, now)
    await people.remove_staff(str(ENGINEER), frozenset({LEAD}), now)
    assert await reason(page.redeem_login(token, now)) == "desk.not_staff"
    assert await DeskSession.all().count() == 0


async def test_a_session_lasts_twelve_hours_and_ends_at_once_when_its_engineer_is_removed(desk):
    now = desk.clock.now()
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    await people.register_staff(ARCHITECT, "architect", LEAD, now)
    mine = await page.redeem_login(await page.create_login(ENGINEER, now), now)
    theirs = await page.redeem_login(await page.create_login(ARCHITECT, now), now)
    assert await page.session_user(mine.token, now + timedelta(hours=11, minutes=59)) == ENGINEER
    assert await page.session_user(mine.token, now + timedelta(hours=12)) is None
    assert await page.session_user(None, now) is None
    assert await page.session_user("forged", now) is None
    await people.remove_staff(str(ENGINEER), frozenset({LEAD}), now)
    assert await page.session_user(mine.token, now) is None
    assert not await DeskSession.exists(user_id=ENGINEER)  # re-adding them later does not revive it
    assert await page.session_user(theirs.token, now) == ARCHITECT
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    assert await page.session_user(mine.token, now) is None


async def test_signing_out_and_forgetting_expired_sessions(desk):
    now = desk.clock.now()
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    session = await page.redeem_login(await page.create_login(ENGINEER, now), now)
    await page.sign_out(session.token)
    assert await page.session_user(session.token, now) is None
    kept = await page.redeem_login(await page.create_login(ENGINEER, now), now)
    await page.create_login(ENGINEER, now)
    assert await page.forget_expired(now + timedelta(minutes=5)) == 0
    assert await page.forget_expired(now + timedelta(minutes=10)) == 3  # the three links, used or not
    assert await page.session_user(kept.token, now) == ENGINEER
    assert await page.forget_expired(now + timedelta(hours=12)) == 1
    assert await page.session_user(kept.token, now) is None


# ---- wallboard links ------------------------------------------------------------------------------------
async def test_wallboard_links_work_until_revoked_or_their_lead_leaves(desk):
    now = desk.clock.now()
    first = await page.create_wallboard(LEAD, "ru", now)
    second = await page.create_wallboard(LEAD, "en", now)
    assert (await page.wallboard(first)).lang == "ru" and (await page.wallboard(second)).lang == "en"
    assert await page.wallboard("made-up") is None and await page.wallboard(None) is None
    assert not await WallboardLink.exists(token_hash=first)
    assert await page.revoke_wallboards(now) == 2
    assert await page.wallboard(first) is None and await page.wallboard(second) is None
    assert await page.revoke_wallboards(now) == 0
    await people.register_staff(ARCHITECT, "lead", LEAD, now)
    third = await page.create_wallboard(ARCHITECT, "en", now)
    assert await page.wallboard(third) is not None
    await people.remove_staff(str(ARCHITECT), frozenset({LEAD}), now)
    assert await page.wallboard(third) is None


# ---- what the page shows --------------------------------------------------------------------------------
@pytest.fixture
async def busy(desk):
    """Monday 2 March 2026, 13:00 MSK: a premium and an 8x5 customer, a day rotation, a night gap."""
    desk.clock.set(datetime(2026, 3, 2, 13, 0, tzinfo=MSK))
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await customers.add_customer("BETA", "8x5", "Beta", now)
    await customers.bind_by_code("BETA", "telegram", str(OTHER_GROUP), "Beta", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    await people.seen(ENGINEER, "eng_boris", "Boris", now)
    await Rotation.create(shift="day", mode="daily", members=[ENGINEER], anchor=date(2026, 3, 1), updated_at=now)
    desk.stub.chat(GROUP, "Acme")
    desk.stub.chat(OTHER_GROUP, "Beta")
    return desk


async def test_open_incidents_most_urgent_first_with_what_the_page_shows(busy):
    await busy.say(OTHER_GROUP, customer, "Вопрос по отчётам")  # BETA-1, 8x5: 1 h
    busy.clock.advance(timedelta(minutes=10))
    await busy.say(GROUP, customer, "Всё упало")  # ACME-1, premium: 15 min, due before BETA-1
    await busy.say(ENGINEER, engineer, "/take BETA-1")
    now = busy.clock.now()
    rows = await page.open_rows(now, busy.dp["desk"].sla)
    assert [r.key for r in rows] == ["ACME-1", "BETA-1"]  # waiting first, then answered
    acme, beta = rows
    assert (acme.code, acme.customer, acme.plan, acme.priority, acme.channel, acme.status) == (
        "ACME", "Acme", "premium", "P1", "telegram", "new")
    assert acme.deadline == now + timedelta(minutes=15) and not acme.responded and acme.assignee is None
    assert acme.paused_until is None and acme.title == "Всё упало"
    assert beta.responded and beta.status == "in_progress" and beta.assignee == await people.display_name(ENGINEER)


async def test_an_8x5_incident_after_hours_shows_its_clock_paused_until_the_calendar_opens(busy):
    busy.clock.set(datetime(2026, 2, 27, 18, 30, tzinfo=MSK))  # Friday, half an hour before closing
    await busy.say(OTHER_GROUP, customer, "Вопрос по отчётам")
    rows = await page.open_rows(busy.clock.now(), busy.dp["desk"].sla)
    assert rows[0].paused_until is None  # the calendar is open: the clock runs
    busy.clock.set(datetime(2026, 2, 27, 20, 0, tzinfo=MSK))
    (row,) = await page.open_rows(busy.clock.now(), busy.dp["desk"].sla)
    monday = datetime(2026, 3, 2, 10, 0, tzinfo=MSK)
    assert row.paused_until == monday and row.deadline == monday + timedelta(minutes=30)


async def test_today_counts_opened_answered_in_time_and_breaches_in_the_desk_zone(busy):
    # Yesterday (Sunday) evening's incident does not count as opened today, but its breach today does.
    busy.clock.set(datetime(2026, 3, 1, 23, 55, tzinfo=MSK))
    await busy.say(GROUP, customer, "Вопрос вчера")  # ACME-1, due 00:10 Monday, never answered
    busy.clock.set(datetime(2026, 3, 2, 11, 0, tzinfo=MSK))
    await busy.say(OTHER_GROUP, customer, "Вопрос два")  # BETA-1 at 11:00, due 12:00
    busy.clock.set(datetime(2026, 3, 2, 11, 20, tzinfo=MSK))
    await busy.say(ENGINEER, engineer, "/take BETA-1")  # in time
    busy.clock.set(datetime(2026, 3, 2, 13, 0, tzinfo=MSK))
    counted = await page.today(busy.clock.now(), MSK)
    opened_today = await Incident.filter(opened_at__gte=datetime(2026, 3, 2, tzinfo=MSK)).count()
    assert counted.opened == opened_today == 1
    assert counted.met == 1
    assert counted.breached == 1  # ACME-1's deadline passed this morning with no answer
    assert await page.today(busy.clock.now().astimezone(MSK), MSK) == counted  # any zone in, the same moment


async def test_today_counts_a_late_answer_as_a_breach_not_as_in_time(busy):
    await busy.say(GROUP, customer, "Всё упало")  # ACME-1, premium, 15 min
    busy.clock.advance(timedelta(minutes=20))
    await busy.say(ENGINEER, engineer, "/take ACME-1")
    counted = await page.today(busy.clock.now(), MSK)
    assert (counted.opened, counted.met, counted.breached) == (1, 0, 1)


async def test_on_call_now_the_next_handoff_and_the_gaps(busy):
    now = busy.clock.now()  # Monday 13:00: the day shift, Boris by rotation; nobody at night
    duties, handoff, gaps = await page.on_call(now, busy.settings.policy.shifts)
    assert [(d.shift, d.name, d.override) for d in duties] == [("day", "Boris (@eng_boris)", False)]
    assert (handoff.shift, handoff.at, handoff.name) == ("night", datetime(2026, 3, 2, 19, 0, tzinfo=MSK), None)
    assert len(gaps) == 7 and {g.shift for g in gaps} == {"night"}
    await people.register_staff(ARCHITECT, "architect", LEAD, now)
    await people.seen(ARCHITECT, "arch_vera", "Vera", now)
    await Override.create(user_id=ARCHITECT, starts_at=datetime(2026, 3, 2, 18, 0, tzinfo=MSK),
                          ends_at=datetime(2026, 3, 3, 11, 0, tzinfo=MSK), created_at=now)
    duties, handoff, gaps = await page.on_call(now, busy.settings.policy.shifts)
    assert handoff.name == "Vera (@arch_vera)"  # the override takes the night
    assert len(gaps) == 6
    later = datetime(2026, 3, 2, 18, 30, tzinfo=MSK)
    duties, _, _ = await page.on_call(later, busy.settings.policy.shifts)
    assert [(d.name, d.override) for d in duties] == [("Vera (@arch_vera)", True)]


async def test_stuck_counts_the_backlog_its_age_failures_parked_and_the_unbound_inbox(busy):
    now = busy.clock.now()
    empty = await page.stuck(now)
    assert (empty.backlog, empty.oldest_age, empty.failed, empty.parked, empty.unbound_messages) == (0, None, 0, 0, 0)
    busy.stub.chat(-700, "Nobody's")
    await busy.say(-700, customer, "Hello?")
    await busy.say(-700, customer, "Anyone?")
    await Outbox.filter(status="pending").delete()  # the desk's own answers to the strangers above
    await Outbox.create(kind="customer", chat_id=GROUP, params={"text": "x"}, due_at=now, created_at=now - timedelta(minutes=7))
    await Outbox.create(kind="customer", chat_id=GROUP, params={"text": "y"}, due_at=now, created_at=now, status="failed")
    await Outbox.create(kind="customer", chat_id=GROUP, params={"text": "z"}, due_at=now, created_at=now - timedelta(days=2),
                        status="failed")
    stuck = await page.stuck(now)
    assert stuck.backlog == 1 and stuck.oldest_age == timedelta(minutes=7)
    assert stuck.failed == 1  # the one from two days ago is history
    assert (stuck.unbound_messages, stuck.unbound_chats) == (2, 1)
    assert await UnboundMessage.filter(conversation__channel="telegram", conversation__ref="-700").count() == 2


async def test_the_card_holds_the_timeline_and_the_verdict(busy):
    await busy.say(GROUP, customer, "Всё упало")
    busy.clock.advance(timedelta(minutes=5))
    await busy.say(GROUP, engineer, "Смотрим")
    card = await page.card("acme-1", busy.dp["desk"].sla)
    assert card.incident.key == "ACME-1" and card.met is True and card.waited == timedelta(minutes=5)
    assert card.target == timedelta(minutes=15)
    assert [(m.source, m.text) for m in card.messages if m.source != "bot"] == [("customer", "Всё упало"),
                                                                                ("staff", "Смотрим")]
    assert {e.kind for e, _ in card.events} >= {"opened", "responded"}
    assert await reason(page.card("ACME-99", busy.dp["desk"].sla)) == "err.unknown_incident"


async def test_the_daily_clean_up_forgets_dead_sign_ins_and_sessions(desk):
    from handlers.pings import make_render
    from scheduler.jobs import Heartbeat, Tick

    now = desk.clock.now()
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    await page.redeem_login(await page.create_login(ENGINEER, now), now)
    tick = Tick(desk.settings, desk.clock, desk.dp["desk"].sla, make_render(desk.settings), Heartbeat())
    await tick.clean_up(datetime(2026, 3, 3, 3, 5, tzinfo=MSK))  # the next night: the session is 15 h old
    assert await DeskSession.all().count() == 0 and await DeskLogin.all().count() == 0
