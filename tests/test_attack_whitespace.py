"""The command table is checked only when the text starts with '/', while aiogram's `Command` filter splits
the text on whitespace first (`str.split()`): a command after leading whitespace must not run unchecked.
Held: every command router filters on a leading '/' first. Python's
`str.split()` also splits on Unicode spaces Telegram does not trim (U+3000, U+2003, U+00A0, U+001F)."""

import pytest

from domain import customers, people
from domain.models import Customer, Invitation
from tests.people import ENGINEER, GROUP, LEAD, STRANGER, customer, stranger

SPACES = ["\u3000", "\u2003", "\u00a0", "\x1f", " ", "\n"]


@pytest.fixture
async def acme(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "warranty", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Acme")
    return desk


@pytest.mark.parametrize("space", SPACES, ids=[f"U+{ord(s):04X}" for s in SPACES])
async def test_stranger_cannot_invite_themselves_as_lead(acme, space):
    mark = acme.stub.mark()
    await acme.say(STRANGER, stranger, f"{space}/staff_invite lead")
    assert await Invitation.filter(kind="staff").count() == 0, acme.replies(STRANGER, mark)


@pytest.mark.parametrize("as_caption", [False, True], ids=["text", "caption"])
async def test_customer_cannot_change_their_plan(acme, as_caption):
    text = "\u3000/customer_set ACME plan premium"
    if as_caption:
        await acme.say(GROUP, customer, None, caption=text,
                       photo=[{"file_id": "p1", "file_unique_id": "u1", "width": 10, "height": 10}])
    else:
        await acme.say(GROUP, customer, text)
    assert (await Customer.get(code="ACME")).plan == "warranty"
