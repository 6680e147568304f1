"""A group upgraded to a supergroup, as Telegram clients show it: the old group's history (with its buttons)
stays visible above the supergroup's, and people press those buttons."""

import pytest

from domain import customers, people
from domain.models import Incident
from tests.people import ENGINEER, LEAD, customer, engineer, lead

BASIC_GROUP = -4500
NEW_GROUP = -1004500


@pytest.fixture
async def basic(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(BASIC_GROUP), "Acme", "group", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(BASIC_GROUP, "Acme", kind="group")
    return desk


async def upgraded(desk, old, new):
    desk.stub.chat(new, "Acme")
    await desk.say(old, lead, None, migrate_to_chat_id=new)
    await desk.say(new, lead, None, migrate_from_chat_id=old)


def last_to(desk, chat):
    return [c.params for c in desk.stub.find("sendMessage") if int(c.params["chat_id"]) == chat][-1]


async def test_rating_button_from_before_the_upgrade_still_rates(basic):
    await basic.say(BASIC_GROUP, customer, "Problem")
    await basic.say(ENGINEER, engineer, "/resolve ACME-1 Fixed")
    notice = last_to(basic, BASIC_GROUP)
    stars = notice["reply_markup"]["inline_keyboard"][0]
    await upgraded(basic, BASIC_GROUP, NEW_GROUP)
    old_message = {"message_id": 7, "date": int(basic.clock.now().timestamp()),
                   "chat": basic.stub.chats[BASIC_GROUP], "text": notice["text"]}
    await basic.press(old_message, customer, stars[4]["callback_data"])
    assert (await Incident.get(key="ACME-1")).rating == 5


async def test_priority_button_from_before_the_upgrade_still_works(basic):
    await basic.say(BASIC_GROUP, customer, "Problem")
    ack = last_to(basic, BASIC_GROUP)
    data = {b["text"][:2]: b["callback_data"] for row in ack["reply_markup"]["inline_keyboard"] for b in row}
    await upgraded(basic, BASIC_GROUP, NEW_GROUP)
    old_ack = {"message_id": 6, "date": int(basic.clock.now().timestamp()),
               "chat": basic.stub.chats[BASIC_GROUP], "text": ack["text"]}
    await basic.press(old_ack, customer, data["P1"])
    assert (await Incident.get(key="ACME-1")).priority == "P1"


async def test_the_priority_change_from_an_old_button_is_told_in_the_supergroup(basic):
    await basic.say(BASIC_GROUP, customer, "Problem")
    ack = last_to(basic, BASIC_GROUP)
    data = {b["text"][:2]: b["callback_data"] for row in ack["reply_markup"]["inline_keyboard"] for b in row}
    await upgraded(basic, BASIC_GROUP, NEW_GROUP)
    old_ack = {"message_id": 6, "date": int(basic.clock.now().timestamp()),
               "chat": basic.stub.chats[BASIC_GROUP], "text": ack["text"]}
    mark = len(basic.stub.find("sendMessage"))
    await basic.press(old_ack, customer, data["P1"])
    sent = basic.stub.find("sendMessage")[mark:]
    # The old group's id takes no messages after the upgrade: the chat reads the change in the supergroup.
    assert [int(c.params["chat_id"]) for c in sent if "P1" in c.params["text"]] == [NEW_GROUP], \
        [c.params for c in sent]


async def test_an_old_button_of_another_chat_stays_stale_after_an_upgrade(basic):
    """The upgrade's trace admits the old group's own buttons, not those of an incident of another chat."""
    await customers.bind_by_code("ACME", "telegram", "-4600", "Acme 2", "group", LEAD, basic.clock.now())
    basic.stub.chat(-4600, "Acme 2", kind="group")
    await basic.say(-4600, customer, "Other problem")
    other = last_to(basic, -4600)
    data = {b["text"][:2]: b["callback_data"] for row in other["reply_markup"]["inline_keyboard"] for b in row}
    await basic.say(BASIC_GROUP, customer, "Problem")
    await upgraded(basic, BASIC_GROUP, NEW_GROUP)
    old = {"message_id": 6, "date": int(basic.clock.now().timestamp()),
           "chat": basic.stub.chats[BASIC_GROUP], "text": other["text"]}
    await basic.press(old, customer, data["P1"])
    assert (await Incident.get(key="ACME-1")).priority != "P1"
