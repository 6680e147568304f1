"""Who keeps access after leaving: removed staff are never on call and hear no customer's problem; a lead
taken out of LEAD_IDS stops being a lead at the next start."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from domain import customers, people
from domain.access import Role
from domain.models import Customer, Override, Rotation, Staff
from scheduler.jobs import Heartbeat, Tick
from tests.people import ARCHITECT, ENGINEER, GROUP, LEAD, STRANGER, architect, customer, engineer, lead

MSK = ZoneInfo("Europe/Moscow")
NOON = datetime(2026, 3, 16, 12, 0, tzinfo=MSK)  # a Monday, in the day shift


@pytest.fixture
async def premium(desk):
    """A premium customer whose dedicated engineer is the architect; the engineer has the day shift."""
    desk.clock.set(NOON)
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    for user, role in ((engineer, "engineer"), (architect, "architect")):
        await people.register_staff(user["id"], role, LEAD, now)
        await people.seen(user["id"], user["username"], user["first_name"], now)
    await Customer.filter(code="ACME").update(engineer_id=ARCHITECT)
    await Rotation.create(shift="day", mode="daily", members=[ENGINEER], anchor=date(2026, 3, 1), updated_at=now)
    desk.stub.chat(GROUP, "Acme")
    return desk


def dms(desk, user_id: int, word: str = "ACME-1") -> list[str]:
    return [m["text"] for m in desk.stub.delivered if int(m["chat_id"]) == user_id and word in m["text"]]


async def test_the_rostered_engineer_and_the_dedicated_engineer_are_pinged(premium):
    await premium.say(GROUP, customer, "Everything is down")
    assert len(dms(premium, ENGINEER)) == 1 and len(dms(premium, ARCHITECT)) == 1
    assert dms(premium, LEAD) == []


async def test_removed_staff_get_no_pings_and_the_leads_cover_the_gap(premium):
    await premium.say(LEAD, lead, "/staff_remove @eng_boris")
    await premium.say(LEAD, lead, "/staff_remove @arch_vera")
    await premium.say(GROUP, customer, "Everything is down, secret details inside")
    assert dms(premium, ENGINEER) == [] and dms(premium, ARCHITECT) == []
    assert len(dms(premium, LEAD)) == 1  # nobody on call: the leads hear, as for any gap


async def test_a_ping_owed_before_the_removal_is_not_sent_after_it(premium):
    await premium.say(LEAD, lead, "/schedule")  # the handlers are warm; now hold the outbox back
    premium.flush, flush = (lambda: _nothing()), premium.flush
    await premium.say(GROUP, customer, "Everything is down, secret details inside")
    await premium.say(LEAD, lead, "/staff_remove @eng_boris")
    premium.flush = flush
    await premium.flush()
    assert dms(premium, ENGINEER) == []  # owed while they were on duty, dropped once they left
    assert len(dms(premium, ARCHITECT)) == 1


async def _nothing() -> None:
    return None


async def test_a_removed_dedicated_engineer_is_not_told(premium):
    await premium.say(LEAD, lead, "/staff_remove @arch_vera")
    await premium.say(GROUP, customer, "Everything is down")
    assert dms(premium, ARCHITECT) == []
    assert len(dms(premium, ENGINEER)) == 1 and dms(premium, LEAD) == []


async def test_a_removed_persons_override_puts_nobody_on_duty(premium):
    now = premium.clock.now()
    await Rotation.filter(shift="day").delete()
    await Override.create(user_id=ARCHITECT, starts_at=now, ends_at=now.replace(hour=18), created_at=now)
    await premium.say(LEAD, lead, "/staff_remove @arch_vera")
    await premium.say(GROUP, customer, "Everything is down")
    assert dms(premium, ARCHITECT) == []
    assert len(dms(premium, LEAD)) == 1


async def test_a_removed_persons_turns_are_gaps_in_the_schedule_and_the_handover(premium):
    await premium.say(LEAD, lead, "/staff_remove @eng_boris")
    mark = premium.stub.mark()
    await premium.say(LEAD, lead, "/schedule 1")
    (table,) = premium.replies(LEAD, mark)
    assert "16.03 10:00–19:00 day: nobody ⚠ GAP" in table and "eng_boris" not in table
    # The next day shift's handover DM goes to nobody: its rostered person left.
    premium.tick = Tick(premium.settings, premium.clock, premium.dp["desk"].sla, Heartbeat())
    premium.clock.set(datetime(2026, 3, 17, 10, 0, 30, tzinfo=MSK))
    await premium.tick.run()
    await premium.flush()
    assert [m for m in premium.stub.delivered if int(m["chat_id"]) == ENGINEER] == []


# ---- LEAD_IDS --------------------------------------------------------------------------------------------
async def staff_row(user_id: int) -> tuple:
    row = await Staff.get(user_id=user_id)
    return row.role, row.active, row.via_config, row.role_before


async def test_a_lead_only_from_lead_ids_leaves_the_staff_when_taken_out(desk):
    now = desk.clock.now()
    await people.ensure_leads(frozenset({LEAD, STRANGER}), now)
    assert await staff_row(STRANGER) == ("lead", True, True, None)
    changes = await people.ensure_leads(frozenset({LEAD}), now)
    assert changes.removed == [STRANGER]
    assert (await staff_row(STRANGER))[:2] == ("lead", False)
    actor = await people.resolve_actor(STRANGER, None, frozenset({LEAD}))
    assert actor.role is Role.STRANGER


async def test_an_engineer_made_lead_by_lead_ids_goes_back_to_engineer(desk):
    now = desk.clock.now()
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    await people.ensure_leads(frozenset({LEAD, ENGINEER}), now)
    assert await staff_row(ENGINEER) == ("lead", True, True, "engineer")
    await people.ensure_leads(frozenset({LEAD}), now)
    assert await staff_row(ENGINEER) == ("engineer", True, False, None)
    mark = desk.stub.mark()
    await desk.say(ENGINEER, engineer, "/staff_invite lead")
    assert desk.replies(ENGINEER, mark) == ["/staff_invite is for leads only. Nothing was changed."]


async def test_an_invited_lead_is_not_taken_away_by_the_setting(desk):
    now = desk.clock.now()
    await people.register_staff(ENGINEER, "lead", LEAD, now)
    await people.ensure_leads(frozenset({LEAD, ENGINEER}), now)
    await people.ensure_leads(frozenset({LEAD}), now)
    assert await staff_row(ENGINEER) == ("lead", True, False, None)


async def test_an_invitation_redeemed_while_in_lead_ids_gives_the_role_kept_afterwards(desk):
    now = desk.clock.now()
    await people.ensure_leads(frozenset({LEAD, ENGINEER}), now)
    await people.register_staff(ENGINEER, "architect", LEAD, now)  # an invitation redeemed meanwhile
    assert await staff_row(ENGINEER) == ("lead", True, True, "architect")
    await people.ensure_leads(frozenset({LEAD}), now)
    assert await staff_row(ENGINEER) == ("architect", True, False, None)


async def test_an_emptied_lead_ids_never_leaves_the_desk_without_a_lead(desk):
    changes = await people.ensure_leads(frozenset(), desk.clock.now())
    assert changes.kept == [LEAD]
    assert await staff_row(LEAD) == ("lead", True, True, None)
    await people.register_staff(ENGINEER, "lead", LEAD, desk.clock.now())  # now there is another lead
    changes = await people.ensure_leads(frozenset(), desk.clock.now())
    assert changes.removed == [LEAD] and (await staff_row(LEAD))[1] is False
