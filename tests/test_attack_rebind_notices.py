"""After a chat is bound to another customer, the previous customer's incidents must not talk into it."""

import pytest

from domain import customers, people
from domain.models import Incident
from tests.people import ENGINEER, GROUP, customer, engineer, lead


@pytest.fixture
async def rebound(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    await customers.add_customer("BETA", "warranty", "Beta", now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Shared group")
    await desk.say(GROUP, lead, "/bind ACME")
    await desk.say(GROUP, customer, "Our portal is down")  # ACME-1
    await desk.say(GROUP, lead, "/unbind")
    await desk.say(GROUP, lead, "/bind BETA")  # the group now belongs to BETA
    return desk


async def test_previous_customers_notices_do_not_reach_the_new_customer(rebound):
    mark = rebound.stub.mark()
    await rebound.say(ENGINEER, engineer, "/resolve ACME-1 Rotated ACME's leaked API keys")
    into_group = [c.params for c in rebound.stub.find("sendMessage", mark) if int(c.params["chat_id"]) == GROUP]
    assert not any("ACME" in p.get("text", "") for p in into_group), [p.get("text") for p in into_group]
    if into_group and into_group[-1].get("reply_markup"):
        star = into_group[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        message = {"message_id": 50, "date": int(rebound.clock.now().timestamp()),
                   "chat": rebound.stub.chats[GROUP], "text": "x"}
        await rebound.press(message, customer, star)
    assert (await Incident.get(key="ACME-1")).rating is None
