"""/rotation, /override, /overrides, /override_remove, /oncall and /schedule as a lead and an engineer use them."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import people
from domain.errors import Counted
from domain.models import Override, Rotation
from locales import t
from tests.people import ARCHITECT, ENGINEER, LEAD, architect, engineer, lead
from tests.snapshot import snapshot

MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture
async def team(desk):
    desk.clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=MSK))
    for user in (engineer, architect):
        await people.register_staff(user["id"], "engineer", LEAD, desk.clock.now())
        await desk.say(user["id"], user, "/start")
    return desk


async def test_rotation_oncall_and_schedule(team):
    await team.say(LEAD, lead, "/rotation day daily @eng_boris @arch_vera")
    assert "Shift day, changing daily: User2002 (@eng_boris), User2003 (@arch_vera)" in team.last_reply(LEAD)
    rotation = await Rotation.get(shift="day")
    assert rotation.members == [ENGINEER, ARCHITECT] and rotation.anchor.isoformat() == "2026-03-16"
    await team.say(ENGINEER, engineer, "/oncall")
    text = team.last_reply(ENGINEER)
    assert "day: User2002 (@eng_boris)" in text
    assert "Next handoff: night shift, today 19:00 MSK, to nobody." in text
    await team.say(ENGINEER, engineer, "/schedule 2")
    table = team.last_reply(ENGINEER)
    assert "16.03 10:00–19:00 day: User2002 (@eng_boris)" in table
    assert "17.03 10:00–19:00 day: User2003 (@arch_vera)" in table
    assert "16.03 19:00 – 17.03 10:00 night: nobody ⚠ GAP" in table  # a night shift shows both days


async def test_overrides(team):
    await team.say(LEAD, lead, "/rotation night weekly @eng_boris")
    await team.say(LEAD, lead, "/override @arch_vera 2026-03-16 19:00 12h")
    override = await Override.get()
    assert override.user_id == ARCHITECT
    assert override.starts_at == datetime(2026, 3, 16, 19, 0, tzinfo=MSK)
    assert override.ends_at == datetime(2026, 3, 17, 7, 0, tzinfo=MSK)
    await team.say(LEAD, lead, "/overrides")
    assert f"{override.id}: User2003 (@arch_vera), 16.03 19:00 – 17.03 07:00 MSK" in team.last_reply(LEAD)
    team.clock.set(datetime(2026, 3, 16, 20, 0, tzinfo=MSK))
    await team.say(ENGINEER, engineer, "/oncall")
    assert "night: User2003 (@arch_vera) (override)" in team.last_reply(ENGINEER)
    await team.say(LEAD, lead, "/override @eng_boris now 90m")
    assert (await Override.filter(user_id=ENGINEER).first()).ends_at == team.clock.now() + timedelta(minutes=90)
    await team.say(LEAD, lead, f"/override_remove {override.id}")
    assert not await Override.exists(id=override.id)


@pytest.mark.parametrize(("command", "key", "params"), [
    ("/rotation", "usage.rotation", {}),
    ("/rotation day", "usage.rotation", {}),
    ("/rotation day hourly @eng_boris", "usage.rotation", {}),
    ("/rotation evening daily @eng_boris", "err.bad_shift", {"shift": "evening", "allowed": "day night"}),
    ("/rotation day daily @nobody_here", "err.unknown_person", {"ref": "@nobody_here"}),
    ("/rotation day daily 4004", "err.not_staff", {"ref": "4004"}),
    ("/override @eng_boris", "usage.override", {}),
    ("/override @eng_boris tomorrow 2h", "err.bad_moment", {"value": "tomorrow"}),
    ("/override @eng_boris now soon", "err.bad_moment", {"value": "soon"}),
    ("/override @eng_boris 2026-03-16 25:00 2h", "err.bad_moment", {"value": "2026-03-16 25:00"}),
    ("/override @eng_boris 2026-03-10 10:00 2026-03-10 12:00", "err.bad_range", {}),
    ("/override @eng_boris now 40d", "err.range_too_long", {"days": Counted("words.n.days_gen", 31)}),
    ("/override_remove", "usage.override_remove", {}),
    ("/override_remove abc", "usage.override_remove", {}),
    ("/override_remove 999", "err.unknown_override", {"id": "999"}),
    ("/overrides all", "usage.overrides", {}),
    ("/oncall now", "usage.oncall", {}),
    ("/schedule 0", "err.bad_days", {"limit": 31}),
    ("/schedule week", "err.bad_days", {"limit": 31}),
])
async def test_bad_oncall_commands(team, command, key, params):
    before = await snapshot()
    mark = team.stub.mark()
    await team.say(LEAD, lead, command)
    assert team.replies(LEAD, mark) == [t("en", key, **params)]
    assert await snapshot() == before


async def test_rotation_set_between_shifts_and_what_the_schedule_loads(team):
    """A rotation set when its shift is not running counts from the next occurrence; only current staff
    can be rostered, and someone who leaves afterwards leaves a gap, not a turn."""
    from datetime import time

    from domain import oncall
    from domain.errors import DeskError
    from domain.models import Staff
    from domain.policy import ShiftSpec

    shifts = {"evening": ShiftSpec("evening", time(19), time(23), MSK)}
    now = team.clock.now()  # noon: between two evenings
    rotation = await oncall.set_rotation("evening", "daily", [str(ENGINEER), str(ARCHITECT)], shifts, LEAD, now)
    assert rotation.anchor.isoformat() == "2026-03-16"
    late = datetime(2026, 3, 16, 23, 30, tzinfo=MSK)
    assert (await oncall.set_rotation("evening", "weekly", [str(ENGINEER)], shifts, LEAD, late)).anchor.isoformat() \
        == "2026-03-17"
    override = await oncall.add_override(ARCHITECT, now, now + timedelta(hours=2), LEAD, now)
    assert override.created_by == LEAD
    await Staff.filter(user_id=ENGINEER).update(active=False)
    with pytest.raises(DeskError) as refused:
        await oncall.set_rotation("evening", "daily", [str(ENGINEER)], shifts, LEAD, now)
    assert refused.value.key == "err.not_staff"
    rotations, overrides = await oncall.load(now)
    assert rotations["evening"] == oncall.RotationPlan("evening", "weekly", (None,), date(2026, 3, 17))
    assert overrides == [oncall.OverrideSpan(override.id, ARCHITECT, now, now + timedelta(hours=2))]
