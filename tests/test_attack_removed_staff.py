"""A removed staff member: what they held must not be left with nobody."""

import pytest

from domain import customers, people
from domain.models import Incident
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer, lead


@pytest.mark.xfail(strict=True, reason="/staff_remove leaves the removed engineer assigned to their open incidents "
                                       "(a P1 of a premium customer stays 'in progress' with someone gone) and the "
                                       "lead's answer does not name them")
async def test_removing_staff_releases_or_names_their_open_incidents(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    await customers.bind_by_code("ACME", GROUP, "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Acme")
    await desk.say(GROUP, customer, "Portal is down for everyone")
    await desk.say(ENGINEER, engineer, "/take ACME-1")
    mark = desk.stub.mark()
    await desk.say(LEAD, lead, f"/staff_remove {ENGINEER}")
    answer = "\n".join(desk.replies(LEAD, mark))
    incident = await Incident.get(key="ACME-1")
    assert incident.assignee_id != ENGINEER or "ACME-1" in answer, (incident.assignee_id, answer)
