"""Every lead command, sent by an engineer, a customer or a stranger, is refused and changes nothing."""

import pytest

from domain import customers, people
from domain.access import COMMANDS, LEADS, STAFF, Role, check
from locales import t
from tests.people import ENGINEER, GROUP, STRANGER, customer, engineer, stranger
from tests.snapshot import snapshot

LEAD_COMMANDS = sorted(name for name, rule in COMMANDS.items() if rule.who == LEADS)
ARGS = {
    "customer_add": "NEWCO premium New Co", "customer": "ACME", "customer_set": "ACME plan 8x5",
    "invite": "ACME", "bind": "ACME", "staff_invite": "engineer", "staff_role": f"{ENGINEER} lead",
    "staff_remove": str(ENGINEER),
}


@pytest.fixture
async def bound_desk(desk):
    await customers.add_customer("ACME", "premium", "Acme", desk.clock.now())
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", 1, desk.clock.now())
    await people.register_staff(ENGINEER, "engineer", None, desk.clock.now())
    desk.stub.chat(GROUP, "Acme")
    return desk


def test_every_lead_command_is_in_the_table():
    assert {"customer_add", "customers", "customer", "customer_set", "invite", "bind", "unbind", "unbound",
            "staff_invite", "staff", "staff_role", "staff_remove"} <= set(LEAD_COMMANDS)


@pytest.mark.parametrize("command", LEAD_COMMANDS)
@pytest.mark.parametrize(("who", "user", "chat", "refusal"), [
    ("engineer", engineer, ENGINEER, "refuse.role"),
    ("engineer in the customer chat", engineer, GROUP, "refuse.role"),
    ("customer", customer, GROUP, "refuse.role_customer"),
    ("stranger", stranger, STRANGER, "refuse.role_customer"),
])
async def test_lead_command_refused(bound_desk, command, who, user, chat, refusal):
    before = await snapshot()
    mark = bound_desk.stub.mark()
    await bound_desk.say(chat, user, f"/{command} {ARGS.get(command, '')}".strip())
    assert bound_desk.replies(chat, mark) == [t(bound_desk.last_lang(chat), refusal, command=command)]
    assert await snapshot() == before


def test_table_decisions():
    assert check("customers", Role.LEAD, "private", False) is None
    assert check("bind", Role.LEAD, "private", False) == "refuse.group_only"
    assert check("help", Role.STRANGER, "private", False) is None
    for role in STAFF:
        assert check("lang", role, "supergroup", True) is None
    assert check("staff", Role.CUSTOMER, "supergroup", True) == "refuse.role_customer"
    assert check("new", Role.LEAD, "supergroup", False) == "refuse.customer_chat_only"  # a group bound to no one
    assert check("new", Role.LEAD, "private", False) == "refuse.customer_chat_only"
    assert check("status", Role.CUSTOMER, "supergroup", True) is None


async def test_customer_reading_help_sees_no_lead_commands(bound_desk):
    await bound_desk.say(GROUP, customer, "/help")
    text = bound_desk.last_reply(GROUP)
    assert "/lang" in text and "/customer_add" not in text and "/staff" not in text
