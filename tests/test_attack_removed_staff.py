"""A removed staff member: what they held must not be left with nobody."""


from domain import customers, people
from domain.models import Incident
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer, lead


async def test_removing_staff_releases_or_names_their_open_incidents(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Acme")
    await desk.say(GROUP, customer, "Portal is down for everyone")
    await desk.say(ENGINEER, engineer, "/take ACME-1")
    mark = desk.stub.mark()
    await desk.say(LEAD, lead, f"/staff_remove {ENGINEER}")
    answer = "\n".join(desk.replies(LEAD, mark))
    incident = await Incident.get(key="ACME-1")
    assert incident.assignee_id is None and "ACME-1" in answer, (incident.assignee_id, answer)
