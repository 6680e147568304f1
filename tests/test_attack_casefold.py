"""The command table is checked on `str.lower()` of the command, while aiogram's `Command(ignore_case=True)`
matches on `str.casefold()`: letters whose case folding differs from lower-casing ('ſ' long s → 's',
'ﬆ' ligature → 'st', 'ß' → 'ss') make a command the table does not know but a handler runs."""

import re

import pytest

from domain import customers, people
from domain.models import Customer, Invitation, Staff
from tests.people import ENGINEER, GROUP, LEAD, STRANGER, customer, stranger


@pytest.fixture
async def acme(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "warranty", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Acme")
    return desk


@pytest.mark.parametrize("spelling", ["/ſtaff_invite lead", "/\ufb06aff_invite lead"])
async def test_customer_cannot_make_a_lead_invitation_with_a_casefolded_command(acme, spelling):
    mark = acme.stub.mark()
    await acme.say(GROUP, customer, spelling)
    answers = "\n".join(acme.replies(GROUP, mark))
    assert "?start=" not in answers, answers
    assert await Invitation.filter(kind="staff").count() == 0


async def test_customer_cannot_become_lead(acme):
    await acme.say(GROUP, customer, "/ſtaff_invite lead")
    links = [t for t in acme.replies(GROUP) if "?start=" in t]
    if links:
        token = re.search(r"\?start=([A-Za-z0-9_-]+)", links[-1]).group(1)
        await acme.say(customer["id"], customer, f"/start {token}")
    assert not await Staff.filter(user_id=customer["id"]).exists()


async def test_customer_cannot_change_their_plan(acme):
    await acme.say(GROUP, customer, "/cuſtomer_set ACME plan premium")
    assert (await Customer.get(code="ACME")).plan == "warranty"


async def test_stranger_in_private_gets_unknown_command(acme):
    """Held: outside a customer chat an unknown-looking command is answered 'unknown' and nothing runs."""
    await acme.say(STRANGER, stranger, "/ſtaff_invite lead")
    assert await Invitation.filter(kind="staff").count() == 0


@pytest.mark.parametrize("text", ["/cuſtomers", "/cuſtomer BETA", "/\ufb06aff"])
async def test_customer_cannot_read_other_customers(acme, text):
    await customers.add_customer("BETA", "premium", "Beta Secret Bank", acme.clock.now())
    mark = acme.stub.mark()
    await acme.say(GROUP, customer, text)
    answers = "\n".join(acme.replies(GROUP, mark))
    assert "Beta Secret Bank" not in answers and "BETA" not in answers and str(ENGINEER) not in answers, answers


async def test_customer_caption_cannot_make_a_lead_invitation(acme):
    await acme.say(GROUP, customer, None, caption="/ſtaff_invite lead",
                   photo=[{"file_id": "p1", "file_unique_id": "u1", "width": 10, "height": 10}])
    assert await Invitation.filter(kind="staff").count() == 0
