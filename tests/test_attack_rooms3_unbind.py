"""Hostile tests, third round: what an eXpress chat can still do or see after `/unbind express REF` (the harness
of tests/test_express.py: the real web app, a stand-in BotX)."""

import pytest

from domain import people
from domain.models import Conversation, Incident
from tests import test_express as base
from tests.people import ENGINEER, LEAD, engineer, lead
from tests.test_express import ANNA, BOT_ID, CHAT

room = base.room  # its fixture


async def unbound_with_open_incident(room) -> tuple[Conversation, Incident]:
    chat = await room.bind()
    await room.botx.command(CHAT, ANNA, "The payroll export fails")
    await room.settle()
    await room.desk.say(LEAD, lead, f"/unbind express {BOT_ID}:{CHAT}")
    assert (await Conversation.get(id=chat.id)).customer_id is None
    return chat, await Incident.get(key="ACME-1")


@pytest.mark.xfail(strict=True, reason="after /unbind the chat is still sent the resolution with rating buttons, "
                                       "and pressing one rates nothing")
async def test_a_rating_request_sent_after_the_unbind_can_be_used(room):
    _chat, incident = await unbound_with_open_incident(room)
    await people.register_staff(ENGINEER, "engineer", LEAD, room.desk.clock.now())
    await room.desk.say(ENGINEER, engineer, "/resolve ACME-1 Replaced the toner")
    await room.settle()
    prompts = [m for m in room.botx.sent(CHAT) if "Replaced the toner" in m["body"] and m["bubbles"]]
    if prompts:
        await room.botx.command(CHAT, ANNA, "/dd", data={"dd": prompts[-1]["bubbles"][0][4]["data"]["dd"]})
        await room.settle()
    # Either the chat is not asked to rate (it is nobody's now), or the buttons it was given work.
    assert not prompts or (await Incident.get(id=incident.id)).rating == 5, room.botx.sent(CHAT)[-1]
