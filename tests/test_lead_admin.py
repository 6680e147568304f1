"""Lead administration that works: customers and every field, chats, the unbound inbox, staff."""

from datetime import date, timedelta

import pytest

from domain import customers, people
from domain.errors import DeskError
from domain.models import Conversation, Customer, Staff, UnboundMessage
from tests.channels import tg
from tests.people import ENGINEER, GROUP, LEAD, OTHER_GROUP, STRANGER, customer, engineer, lead, stranger


@pytest.fixture
async def acme(desk):
    await desk.say(LEAD, lead, "/customer_add acme 8x5 Acme Corp")
    await people.register_staff(ENGINEER, "engineer", LEAD, desk.clock.now())
    await desk.say(ENGINEER, engineer, "/start")  # the engineer is seen, with a username
    return desk


async def test_customer_add_stores_upper_case_code(acme):
    c = await Customer.get(code="ACME")
    assert (c.name, c.plan, c.users, c.ha, c.report) == ("Acme Corp", "8x5", 0, "none", "off")


@pytest.mark.parametrize(("field", "value", "attribute", "expected"), [
    ("name", "Acme Holding Ltd", "name", "Acme Holding Ltd"),
    ("plan", "premium", "plan", "premium"),
    ("users", "12000", "users", 12000),
    ("cts", "3", "cts", 3),
    ("ha", "cluster", "ha", "cluster"),
    ("tz", "Asia/Yekaterinburg", "tz", "Asia/Yekaterinburg"),
    ("lang", "en", "lang", "en"),
    ("report", "monthly", "report", "monthly"),
    ("contract_until", "2027-06-30", "contract_until", date(2027, 6, 30)),
    ("engineer", "@eng_boris", "engineer_id", ENGINEER),
    ("engineer", str(ENGINEER), "engineer_id", ENGINEER),
    ("contact", "Ivan Petrov, CIO, +7 900 000-00-00", "contacts", ["Ivan Petrov, CIO, +7 900 000-00-00"]),
])
async def test_customer_set_every_field(acme, field, value, attribute, expected):
    await acme.say(LEAD, lead, f"/customer_set ACME {field} {value}")
    assert f"ACME: {field} updated." in acme.last_reply(LEAD)
    assert getattr(await Customer.get(code="ACME"), attribute) == expected


async def test_contacts_append_and_clear(acme):
    await acme.say(LEAD, lead, "/customer_set ACME contact Ivan")
    await acme.say(LEAD, lead, "/customer_set ACME contact Olga")
    assert (await Customer.get(code="ACME")).contacts == ["Ivan", "Olga"]
    await acme.say(LEAD, lead, "/customer_set ACME contract_until 2027-01-01")
    await acme.say(LEAD, lead, "/customer_set ACME contract_until -")
    await acme.say(LEAD, lead, "/customer_set ACME contact -")
    c = await Customer.get(code="ACME")
    assert c.contacts == [] and c.contract_until is None


async def test_customer_card_and_list(acme):
    await acme.say(LEAD, lead, "/customer_set ACME users 1000")
    await acme.say(LEAD, lead, "/customer_set ACME cts 2")
    await acme.say(LEAD, lead, "/customer_set ACME ha standby")
    await acme.say(LEAD, lead, "/customer ACME")
    card = acme.last_reply(LEAD)
    # (50 000 + 20 × 1000 + 15 000 × 2) × 1.2 = 120 000
    assert "Price estimate: 120,000\u00a0₽ per month" in card
    assert "Plan: 8x5" in card and "Users: 1,000" in card and "Fault tolerance: standby server" in card
    await acme.say(LEAD, lead, "/customer_add BETA warranty Beta LLC")
    await acme.say(LEAD, lead, "/customers")
    listing = acme.last_reply(LEAD)
    assert listing.index("ACME — Acme Corp — 8x5 — 0 open") < listing.index("BETA — Beta LLC — Warranty")


async def test_bind_unbind_and_rebind(acme):
    acme.stub.chat(GROUP, "Acme support")
    await acme.say(GROUP, lead, "/bind ACME")
    assert "now connected to support for ACME" in acme.last_reply(GROUP)
    chat = await Conversation.get(**tg(GROUP)).select_related("customer")
    assert chat.customer.code == "ACME" and chat.title == "Acme support" and chat.bound_by == LEAD
    await acme.say(GROUP, lead, "/unbind")
    assert "no longer bound to ACME" in acme.last_reply(GROUP)
    assert not await Conversation.exists(**tg(GROUP), customer_id__isnull=False)
    await acme.say(LEAD, lead, "/customer_add BETA warranty Beta")
    await acme.say(GROUP, lead, "/bind BETA")
    assert "BETA" in acme.last_reply(GROUP)


async def test_bind_warns_when_the_bot_cannot_read_the_group(acme):
    acme.stub.can_read_all = False
    acme.bot._me = None  # the desk fetches getMe again
    acme.stub.chat(GROUP, "Acme support")
    await acme.say(GROUP, lead, "/bind ACME")
    assert "Make me an administrator" in acme.last_reply(GROUP)
    acme.stub.admin_in.add(OTHER_GROUP)
    acme.stub.chat(OTHER_GROUP, "Acme 2")
    await acme.say(OTHER_GROUP, lead, "/bind ACME")
    assert "administrator" not in acme.last_reply(OTHER_GROUP)


async def test_unbound_group_messages_are_kept_and_answered_once_an_hour(acme):
    acme.stub.chat(OTHER_GROUP, "Mystery group")
    mark = acme.stub.mark()
    await acme.say(OTHER_GROUP, customer, "Hello, our server is down")
    await acme.say(OTHER_GROUP, customer, "Anyone?")
    photo = [{"file_id": "ph1", "file_unique_id": "u1", "width": 10, "height": 10}]
    await acme.say(OTHER_GROUP, stranger, None, photo=photo)
    assert len(acme.replies(OTHER_GROUP, mark)) == 1  # one notice, not three
    assert "not connected to support yet" in acme.replies(OTHER_GROUP, mark)[0]
    assert await UnboundMessage.filter(conversation__ref=str(OTHER_GROUP)).count() == 3
    acme.clock.advance(timedelta(minutes=61))
    await acme.say(OTHER_GROUP, customer, "Still down")
    assert len(acme.replies(OTHER_GROUP, mark)) == 2

    await acme.say(LEAD, lead, "/unbound")
    listing = acme.last_reply(LEAD)
    assert "Mystery group" in listing and "our server is down" in listing and "[photo]" in listing
    await acme.say(OTHER_GROUP, lead, "/bind ACME")
    await acme.say(LEAD, lead, "/unbound")
    assert "bound since to ACME" in acme.last_reply(LEAD)


async def test_same_unbound_message_twice_is_kept_once(acme):
    acme.stub.chat(OTHER_GROUP, "Mystery group")
    message = acme.stub.make_message(OTHER_GROUP, customer, "Hello")
    await acme.feed({"message": message})
    await acme.feed({"message": message})
    assert await UnboundMessage.filter(conversation__ref=str(OTHER_GROUP)).count() == 1


async def test_staff_role_change_and_removal(acme):
    await acme.say(LEAD, lead, "/staff_role @eng_boris architect")
    assert (await Staff.get(user_id=ENGINEER)).role == "architect"
    await acme.say(LEAD, lead, "/staff_role @eng_boris lead")
    await acme.say(LEAD, lead, "/staff_remove @eng_boris")
    assert "removed" in acme.last_reply(LEAD)
    staff = await Staff.get(user_id=ENGINEER)
    assert staff.active is False  # the row stays: history points at it
    await acme.say(ENGINEER, engineer, "/customers")
    assert "support team only" in acme.last_reply(ENGINEER)


async def test_last_lead_cannot_be_demoted(desk):
    await people.register_staff(ENGINEER, "lead", None, desk.clock.now())
    settings_without_config_leads = frozenset()
    await people.change_role(str(ENGINEER), "engineer", settings_without_config_leads)
    await Staff.filter(user_id=LEAD).update(active=False)
    await people.register_staff(STRANGER, "lead", None, desk.clock.now())
    with pytest.raises(DeskError) as refused:
        await people.remove_staff(str(STRANGER), settings_without_config_leads)
    assert refused.value.key == "err.last_lead"


async def test_lang_for_a_person_and_for_a_customer_chat(acme):
    await acme.say(LEAD, lead, "/lang ru")
    assert acme.last_reply(LEAD) == "Буду говорить с вами по-русски."
    await acme.say(LEAD, lead, "/customers")
    assert acme.last_reply(LEAD).startswith("Клиенты")
    acme.stub.chat(GROUP, "Acme")
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, acme.clock.now())
    await acme.say(GROUP, customer, "/lang ru")
    assert acme.last_reply(GROUP) == "Язык этого чата теперь русский."
    assert (await Conversation.get(**tg(GROUP))).lang == "ru"
    await acme.say(GROUP, engineer, "/lang en")  # an engineer sets only their own language
    assert (await Conversation.get(**tg(GROUP))).lang == "ru"


async def test_private_strangers_get_help_and_nothing_more(acme):
    await acme.say(STRANGER, stranger, "hello?")
    assert "serves the customers and the staff" in acme.last_reply(STRANGER)


async def test_command_menus_are_set_for_staff(acme):
    calls = acme.stub.find("setMyCommands", where=lambda p: p.get("scope", {}).get("chat_id") == ENGINEER)
    assert calls, "an engineer who starts the bot gets the engineer's menu"
