"""A chat room that moves from one customer to another (the harness of tests/test_chatroom.py). There is no
`/unbind` for eXpress or MAX chats yet (being built); the move is made with the domain's own `customers.unbind`,
the call a Telegram group's `/unbind` makes, and a code for the new customer sent in the chat. The incidents of
the first customer keep pointing at the conversation, so their old buttons are still in the chat."""

from domain import customers, people
from domain.models import Incident
from handlers.chatroom import RATE, action
from locales import t
from tests import test_chatroom as base
from tests.people import ENGINEER, LEAD, engineer
from tests.test_chatroom import BORIS, CHAT, bound_chat, code_for, msg, press

rdesk = base.rdesk  # its fixture


async def moved_to_beta(rdesk) -> Incident:
    """ACME's incident, resolved, in the chat; then the chat is BETA's."""
    await bound_chat(rdesk)
    await rdesk.room.message(msg(rdesk, "ACME's payroll export fails"))
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    await rdesk.say(ENGINEER, engineer, "/resolve ACME-1 fixed")
    await customers.unbind("express", CHAT)
    said = await rdesk.room.message(msg(rdesk, await code_for(rdesk, "BETA"), sender=BORIS, name="Boris"))
    assert said[0].text.startswith("This chat is now connected"), said
    return await Incident.get(key="ACME-1")


async def test_the_new_customer_cannot_rate_the_old_customers_incident(rdesk):
    incident = await moved_to_beta(rdesk)
    said = await rdesk.room.press(press(rdesk, action(RATE, incident.id, 1), sender=BORIS))
    assert (await Incident.get(id=incident.id)).rating is None
    assert [s.text for s in said] == [t("en", "err.button_stale")]

