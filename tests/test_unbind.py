"""`/unbind CHANNEL REF`: a lead unbinds any customer's conversation from a private chat or the staff chat,
named as the customer card and `/unbound` show it; `/unbind` alone still unbinds the group it is sent in.
A wrong role, a wrong chat or bad input is answered and changes nothing. (eXpress, MAX and e-mail:
tests/test_unbind_rooms.py and tests/test_unbind_mail.py.)"""

import pytest

from bot.settings import load_settings
from domain import customers, identities, people
from domain.access import Role, check
from domain.errors import Named
from domain.models import Conversation, Incident, UnboundMessage
from locales import t
from tests.channels import bound, tg
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.people import ENGINEER, GROUP, LEAD, OTHER_GROUP, customer, engineer, lead
from tests.snapshot import snapshot

STAFF_CHAT = -100900
USAGE = Named("usage", "unbind")


@pytest.fixture
async def acme(stub, db):
    """ACME bound to GROUP with an open incident, BETA to OTHER_GROUP; a staff chat; an engineer."""
    clock = FrozenClock()
    settings = load_settings(make_env(stub.url, db, STAFF_CHAT_ID=str(STAFF_CHAT)))
    await people.ensure_leads(settings.lead_ids, clock.now())
    desk = Desk(stub, settings, clock)
    now = clock.now()
    await customers.add_customer("ACME", "24x7", "Acme Corp", now)
    await customers.add_customer("BETA", "8x5", "Beta LLC", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme support", "supergroup", LEAD, now)
    await customers.bind_by_code("BETA", "telegram", str(OTHER_GROUP), "Beta", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    for chat, title in ((GROUP, "Acme support"), (OTHER_GROUP, "Beta"), (STAFF_CHAT, "Staff")):
        stub.chat(chat, title)
    await desk.say(GROUP, customer, "The VPN is down")
    yield desk
    if desk.bot.session._session is not None:
        await desk.bot.session._session.close()


def answers(desk, chat: int, mark: int) -> list[str]:
    return desk.replies(chat, mark)


async def test_the_card_shows_each_conversation_by_channel_and_id_to_copy(acme):
    await acme.say(LEAD, lead, "/customer ACME")
    assert f"  • telegram: Acme support ({GROUP})" in acme.last_reply(LEAD)


@pytest.mark.parametrize("where", ["private", "staff chat"])
async def test_a_lead_unbinds_a_group_from_elsewhere_and_its_incidents_stay(acme, where):
    chat = LEAD if where == "private" else STAFF_CHAT
    incident = await Incident.get(key="ACME-1")
    mark = acme.stub.mark()
    await acme.say(chat, lead, f"/unbind TELEGRAM {GROUP}")
    assert answers(acme, chat, mark) == [t("en", "unbind.done", code="ACME", name="Acme Corp",
                                           channel=Named("desk.channel", "telegram"),
                                           conversation=f"Acme support ({GROUP})")]
    assert answers(acme, GROUP, mark) == []  # the group is not told: its next message is
    assert not await bound(GROUP) and await bound(OTHER_GROUP)
    kept = await Incident.get(id=incident.id)
    assert (kept.status, kept.conversation_id) == (incident.status, incident.conversation_id)

    # What the group writes next waits in the unbound inbox, as any unbound group's words do.
    await acme.say(GROUP, customer, "Hello? Still down")
    assert await Incident.all().count() == 1
    assert await UnboundMessage.filter(conversation__ref=str(GROUP)).values_list("text", flat=True) == [
        "Hello? Still down"]
    assert t("en", "unbound.notice") in answers(acme, GROUP, mark)
    await acme.say(LEAD, lead, "/unbound")
    assert f"telegram: Acme support ({GROUP})" in acme.last_reply(LEAD)
    await acme.say(LEAD, lead, "/customer ACME")
    assert str(GROUP) not in acme.last_reply(LEAD)


async def test_unbinding_in_the_group_still_works_without_arguments(acme):
    await acme.say(GROUP, lead, "/unbind")
    assert acme.last_reply(GROUP) == t("en", "bind.undone", code="ACME")
    assert not await bound(GROUP)


@pytest.mark.parametrize(("chat", "who", "text", "answer"), [
    (ENGINEER, engineer, f"/unbind telegram {GROUP}", t("en", "refuse.role", command="unbind")),
    (GROUP, engineer, f"/unbind telegram {GROUP}", t("en", "refuse.role", command="unbind")),
    (GROUP, customer, f"/unbind telegram {GROUP}", t("en", "refuse.role_customer", command="unbind")),
    (GROUP, customer, "/unbind", t("en", "refuse.role_customer", command="unbind")),
    # In a customer's group only the group itself can be unbound: the usage says where the other form works.
    (GROUP, lead, f"/unbind telegram {OTHER_GROUP}", t("en", "usage.unbind")),
    (LEAD, lead, "/unbind telegram", t("en", "usage.unbind")),
    (LEAD, lead, f"/unbind telegram {GROUP} now", t("en", "usage.unbind")),
    (LEAD, lead, f"/unbind fax {GROUP}", t("en", "usage.unbind")),
    (LEAD, lead, "/unbind telegram acme", t("en", "unbind.bad_ref", channel=Named("desk.channel", "telegram"),
                                             ref="acme", usage=USAGE)),
    (LEAD, lead, "/unbind max 12.5", t("en", "chatroom.channel_off", channel=Named("desk.channel", "max"))),
    (LEAD, lead, "/unbind express 0bd3c8d6-0000-4000-8000-000000000001",
     t("en", "chatroom.channel_off", channel=Named("desk.channel", "express"))),
    (LEAD, lead, "/unbind email ivan@acme.ru", t("en", "chatroom.channel_off", channel=Named("desk.channel", "email"))),
    (LEAD, lead, "/unbind telegram -100777", t("en", "unbind.not_bound", channel=Named("desk.channel", "telegram"),
                                                ref="-100777", usage=USAGE)),
    (STAFF_CHAT, lead, f"/unbind telegram {STAFF_CHAT}", t("en", "unbind.not_bound", ref=str(STAFF_CHAT),
                                                            channel=Named("desk.channel", "telegram"), usage=USAGE)),
])
async def test_a_wrong_role_chat_or_argument_is_answered_and_changes_nothing(acme, chat, who, text, answer):
    await people.seen(ENGINEER, "eng_boris", "Boris", acme.clock.now())
    before = await snapshot()
    mark = acme.stub.mark()
    await acme.say(chat, who, text)
    assert answers(acme, chat, mark) == [answer]
    assert await snapshot() == before
    assert await bound(GROUP) and await bound(OTHER_GROUP)


async def test_a_conversation_unbound_twice_is_not_bound_the_second_time(acme):
    await acme.say(LEAD, lead, f"/unbind telegram {OTHER_GROUP}")
    assert "BETA — Beta LLC" in acme.last_reply(LEAD)
    await acme.say(LEAD, lead, f"/unbind telegram {OTHER_GROUP}")
    assert acme.last_reply(LEAD) == t("en", "unbind.not_bound", channel=Named("desk.channel", "telegram"),
                                      ref=str(OTHER_GROUP), usage=USAGE)
    assert await Conversation.filter(**tg(OTHER_GROUP)).count() == 1  # one row, kept without a customer


async def test_an_unbound_group_is_bound_again_with_its_old_row(acme):
    old = await Conversation.get(**tg(GROUP))
    await acme.say(LEAD, lead, f"/unbind telegram {GROUP}")
    await acme.say(GROUP, lead, "/bind BETA")
    again = await Conversation.get(**tg(GROUP)).select_related("customer")
    assert (again.id, again.customer.code) == (old.id, "BETA")


def test_the_table_sends_each_form_where_it_works():
    assert check("unbind", Role.LEAD, "supergroup", True) is None  # the group itself
    assert check("unbind", Role.LEAD, "private", False) == "refuse.group_only"
    assert check("unbind", Role.LEAD, "private", False, has_args=True) is None
    assert check("unbind", Role.LEAD, "supergroup", False, staff_chat=True, has_args=True) is None
    assert check("unbind", Role.LEAD, "supergroup", True, has_args=True) == "usage.unbind"  # a customer reads it
    assert check("unbind", Role.LEAD, "private", True, has_args=True) == "usage.unbind"  # a bound private chat
    assert check("unbind", Role.ENGINEER, "private", False, has_args=True) == "refuse.role"


@pytest.mark.parametrize("chat", [LEAD, GROUP])
async def test_a_leads_help_shows_unbind_in_private_and_in_the_group(acme, chat):
    await acme.say(chat, lead, "/help")
    assert f"/unbind — {t('en', 'help.unbind')}" in acme.last_reply(chat)


async def test_a_binding_changed_meanwhile_is_not_undone(acme, monkeypatch):
    """Two leads at once: one rebinds the group to BETA after the other's /unbind read it bound to ACME."""
    stale = await identities.conversation_of("telegram", str(GROUP))
    await customers.unbind("telegram", str(GROUP))
    await customers.bind_by_code("BETA", "telegram", str(GROUP), "Acme support", "supergroup", LEAD, acme.clock.now())

    async def read_before(channel, ref):
        return stale
    monkeypatch.setattr(identities, "conversation_of", read_before)
    assert await customers.release("telegram", str(GROUP)) is None
    monkeypatch.undo()
    assert (await identities.conversation_of("telegram", str(GROUP))).customer.code == "BETA"
