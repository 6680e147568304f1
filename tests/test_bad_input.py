"""Malformed commands, wrong places and bad invitations: each gets its clear message and changes nothing."""

from datetime import timedelta

import pytest

from domain import customers, invitations, people
from domain.models import Conversation
from locales import t
from tests.people import ENGINEER, GROUP, LEAD, OTHER_GROUP, STRANGER, engineer, lead, stranger
from tests.snapshot import snapshot


@pytest.fixture
async def setup_desk(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    await people.seen(ENGINEER, "eng_boris", "Boris", now)
    desk.stub.chat(GROUP, "Acme")
    desk.stub.chat(OTHER_GROUP, "Unbound group")
    return desk


def en(key: str, **params) -> str:
    return t("en", key, **params)


PLANS = "warranty 8x5 24x7 premium"
FIELDS = "name plan users cts ha tz lang report contract_until engineer contact email"
ROLES = "lead engineer architect developer"

CASES = [
    # (chat, command, expected answer)
    (LEAD, "/customer_add", en("usage.customer_add")),
    (LEAD, "/customer_add ACME", en("usage.customer_add")),
    (LEAD, "/customer_add NEWCO premium", en("usage.customer_add")),
    (LEAD, "/customer_add N premium New", en("err.bad_code", code="N")),
    (LEAD, "/customer_add NEW-CO premium New", en("err.bad_code", code="NEW-CO")),
    (LEAD, "/customer_add ABCDEFGHIJKLMNOPQ premium New", en("err.bad_code", code="ABCDEFGHIJKLMNOPQ")),
    (LEAD, "/customer_add NEWCO gold New", en("err.bad_plan", plan="gold", allowed=PLANS)),
    (LEAD, "/customer_add acme 8x5 Again", en("err.customer_exists", code="ACME")),
    (LEAD, "/customer_add NEWCO premium " + "x" * 300, en("err.bad_name", limit=256)),
    (LEAD, "/customers all", en("usage.customers")),
    (LEAD, "/customer", en("usage.customer")),
    (LEAD, "/customer ACME extra", en("usage.customer")),
    (LEAD, "/customer NOPE", en("err.unknown_customer", code="NOPE")),
    (LEAD, "/customer_set ACME", en("usage.customer_set")),
    (LEAD, "/customer_set ACME plan", en("usage.customer_set")),
    (LEAD, "/customer_set NOPE plan 8x5", en("err.unknown_customer", code="NOPE")),
    (LEAD, "/customer_set ACME color red", en("err.bad_field", field="color", allowed=FIELDS)),
    (LEAD, "/customer_set ACME plan gold", en("err.bad_plan", plan="gold", allowed=PLANS)),
    (LEAD, "/customer_set ACME users many", en("err.bad_number", field="users", value="many")),
    (LEAD, "/customer_set ACME cts -1", en("err.bad_number", field="cts", value="-1")),
    (LEAD, "/customer_set ACME ha raid", en("err.bad_choice", field="ha", value="raid", allowed="none standby cluster")),
    (LEAD, "/customer_set ACME report daily",
     en("err.bad_choice", field="report", value="daily", allowed="off weekly monthly quarterly")),
    (LEAD, "/customer_set ACME lang de", en("err.bad_choice", field="lang", value="de", allowed="ru en")),
    (LEAD, "/customer_set ACME tz Mars/Base", en("err.bad_tz", value="Mars/Base")),
    (LEAD, "/customer_set ACME contract_until 31.12.2026", en("err.bad_date", value="31.12.2026")),
    (LEAD, "/customer_set ACME engineer @nobody_here", en("err.unknown_person", ref="@nobody_here")),
    (LEAD, "/customer_set ACME engineer boris", en("err.bad_person", ref="boris")),
    (LEAD, f"/customer_set ACME engineer {STRANGER}", en("err.not_staff", ref=str(STRANGER))),
    (LEAD, "/invite", en("usage.invite")),
    (LEAD, "/invite NOPE", en("err.unknown_customer", code="NOPE")),
    (LEAD, "/bind ACME", en("refuse.group_only", command="bind")),
    (OTHER_GROUP, "/bind", en("usage.bind")),
    (OTHER_GROUP, "/bind NOPE", en("err.unknown_customer", code="NOPE")),
    (GROUP, "/bind ACME", en("err.already_bound_same", code="ACME")),
    (LEAD, "/unbind", en("refuse.group_only", command="unbind")),
    (OTHER_GROUP, "/unbind", en("err.not_bound")),
    (GROUP, "/unbind now", en("usage.unbind")),
    (LEAD, "/unbound x", en("usage.unbound")),
    (LEAD, "/sla all", en("usage.sla")),
    (LEAD, "/staff_invite", en("usage.staff_invite")),
    (LEAD, "/staff_invite boss", en("err.bad_role", role="boss", allowed=ROLES)),
    (LEAD, "/staff_invite engineer lead", en("usage.staff_invite")),
    (LEAD, "/staff everyone", en("usage.staff")),
    (LEAD, "/staff_role", en("usage.staff_role")),
    (LEAD, "/staff_role @eng_boris", en("usage.staff_role")),
    (LEAD, "/staff_role @eng_boris boss", en("err.bad_role", role="boss", allowed=ROLES)),
    (LEAD, "/staff_role @nobody_here lead", en("err.unknown_person", ref="@nobody_here")),
    (LEAD, f"/staff_role {STRANGER} engineer", en("err.not_staff", ref=str(STRANGER))),
    (LEAD, f"/staff_role {LEAD} engineer", en("err.lead_by_config", ref=str(LEAD))),
    (LEAD, "/staff_remove", en("usage.staff_remove")),
    (LEAD, f"/staff_remove {STRANGER}", en("err.not_staff", ref=str(STRANGER))),
    (LEAD, f"/staff_remove {LEAD}", en("err.lead_by_config", ref=str(LEAD))),
    (LEAD, "/lang", en("usage.lang")),
    (LEAD, "/lang fr", en("usage.lang")),
    (LEAD, "/lang ru en", en("usage.lang")),
    (LEAD, "/frobnicate", en("err.unknown_command", command="frobnicate")),
    (LEAD, "/start not-a-token", en("err.invite_unknown")),
    (LEAD, "/start " + "A" * 40, en("err.invite_unknown")),
    (OTHER_GROUP, "/start " + "A" * 40, en("err.invite_unknown")),
]


@pytest.mark.parametrize(("chat", "command", "expected"), CASES, ids=[c[1][:40] for c in CASES])
async def test_malformed_command_is_answered_and_changes_nothing(setup_desk, chat, command, expected):
    before = await snapshot()
    mark = setup_desk.stub.mark()
    await setup_desk.say(chat, lead, command)
    assert setup_desk.replies(chat, mark) == [expected]
    assert await snapshot() == before


async def test_command_for_another_bot_is_not_ours(setup_desk):
    mark = setup_desk.stub.mark()
    await setup_desk.say(LEAD, lead, "/customers@some_other_bot")
    # In private, a non-command message from a lead gets help, not the customer list.
    assert "Commands" in setup_desk.replies(LEAD, mark)[0]


async def invitation(desk, kind: str, **kw) -> str:
    return await invitations.create(kind, LEAD, desk.clock.now(), **kw)


async def test_expired_staff_invitation(setup_desk):
    token = await invitation(setup_desk, "staff", role="engineer")
    setup_desk.clock.advance(invitations.VALID_FOR + timedelta(seconds=1))
    await setup_desk.say(STRANGER, stranger, f"/start {token}")
    assert setup_desk.last_reply(STRANGER) == en("err.invite_expired")
    assert (await people.resolve_actor(STRANGER, None, frozenset())).role == "stranger"


async def test_reused_staff_invitation(setup_desk):
    token = await invitation(setup_desk, "staff", role="architect")
    await setup_desk.say(STRANGER, stranger, f"/start {token}")
    assert "architect" in setup_desk.last_reply(STRANGER)
    await setup_desk.say(ENGINEER, engineer, f"/start {token}")
    assert setup_desk.last_reply(ENGINEER) == en("err.invite_used")
    assert (await people.resolve_actor(ENGINEER, None, frozenset())).role == "engineer"


async def test_invitations_used_in_the_wrong_place(setup_desk):
    staff_token = await invitation(setup_desk, "staff", role="engineer")
    await setup_desk.say(OTHER_GROUP, stranger, f"/start {staff_token}")
    assert setup_desk.last_reply(OTHER_GROUP) == en("err.invite_wrong_place_staff")
    acme = await customers.get_customer("ACME")
    chat_token = await invitation(setup_desk, "chat", customer=acme)
    await setup_desk.say(STRANGER, stranger, f"/start {chat_token}")
    assert setup_desk.last_reply(STRANGER) == en("err.invite_wrong_place_chat")
    # Neither was used up by the mistake.
    await setup_desk.say(OTHER_GROUP, stranger, f"/start {chat_token}")
    assert "ACME" in setup_desk.last_reply(OTHER_GROUP)


async def test_chat_invitation_in_an_already_bound_chat_is_burnt(setup_desk):
    acme = await customers.get_customer("ACME")
    await customers.add_customer("BETA", "8x5", "Beta", setup_desk.clock.now())
    beta = await customers.get_customer("BETA")
    token = await invitation(setup_desk, "chat", customer=beta)
    await setup_desk.say(GROUP, lead, f"/start {token}")
    # Every member of ACME's group read BETA's code: it is burnt there (tests/test_burn.py), not kept for BETA.
    assert setup_desk.last_reply(GROUP) == en("burn.shown")
    await setup_desk.say(OTHER_GROUP, lead, f"/start {token}")
    assert setup_desk.last_reply(OTHER_GROUP) == en("err.invite_used")
    bound = {int(chat.ref): chat.customer.code for chat in await Conversation.filter(customer_id__isnull=False).select_related("customer")}
    assert bound[GROUP] == acme.code and OTHER_GROUP not in bound  # read again after the action


async def test_tokens_are_random_and_stored_hashed(setup_desk):
    tokens = {await invitation(setup_desk, "staff", role="engineer") for _ in range(50)}
    assert len(tokens) == 50 and all(len(tok) >= 32 for tok in tokens)  # 24 random bytes = 192 bits
    from domain.models import Invitation

    stored = {i.token_hash for i in await Invitation.all()}
    assert not tokens & stored
