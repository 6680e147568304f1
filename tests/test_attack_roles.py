"""Hostile role changes: paths that change a staff member's role around the guards of /staff_role."""

import re

from domain import people
from domain.models import Staff
from tests.people import ARCHITECT, ENGINEER, LEAD, architect, engineer, lead


async def invitation(desk, role: str) -> str:
    await desk.say(LEAD, lead, f"/staff_invite {role}")
    return re.search(r"\?start=([A-Za-z0-9_-]+)", desk.last_reply(LEAD)).group(1)


async def test_invitation_does_not_rewrite_a_config_lead(desk):
    token = await invitation(desk, "developer")
    await desk.say(LEAD, lead, f"/staff {LEAD} developer".replace("/staff ", "/staff_role "))
    assert (await Staff.get(user_id=LEAD)).role == "lead"  # /staff_role refuses: LEAD_IDS only
    await desk.say(LEAD, lead, f"/start {token}")
    assert (await Staff.get(user_id=LEAD)).role == "lead"


async def test_invitation_does_not_demote_a_lead(desk):
    await people.register_staff(ARCHITECT, "lead", LEAD, desk.clock.now())
    token = await invitation(desk, "developer")
    await desk.say(ARCHITECT, architect, f"/start {token}")
    assert (await Staff.get(user_id=ARCHITECT)).role == "lead"
    assert "lead already" in desk.last_reply(ARCHITECT)
    await desk.say(ENGINEER, engineer, f"/start {token}")  # the link still works for whom it was meant
    assert (await Staff.get(user_id=ENGINEER)).role == "developer"


async def test_a_forwarded_command_is_not_run_as_the_forwarders(desk):
    from domain import customers
    from domain.models import Customer
    from tests.people import CUSTOMER
    await customers.add_customer("ACME", "warranty", "Acme", desk.clock.now())
    origin = {"type": "user", "sender_user": {"id": CUSTOMER, "is_bot": False, "first_name": "Cat"},
              "date": int(desk.clock.now().timestamp()) - 60}
    await desk.say(LEAD, lead, "/customer_set ACME plan premium", forward_origin=origin)
    assert (await Customer.get(code="ACME")).plan == "warranty"
