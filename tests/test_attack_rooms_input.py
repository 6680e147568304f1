"""Hostile input to the channel-neutral chat-room layer (the harness of tests/test_chatroom.py): messages with
nothing in them, and codes of the wrong kind sent in a bound chat."""

import re

import pytest

from domain.models import Incident, IncidentMessage, Outbox
from tests import test_chatroom as base
from tests.people import LEAD, lead
from tests.test_chatroom import bound_chat, msg

rdesk = base.rdesk  # its fixture


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_a_message_with_nothing_in_it_opens_no_incident(rdesk, text):
    await bound_chat(rdesk)
    await rdesk.room.message(msg(rdesk, text))
    assert await Incident.all().count() == 0
    assert not await Outbox.filter(kind="new").exists()


@pytest.mark.parametrize("kind", ["staff", "chat", "max"])
async def test_a_code_of_another_kind_in_a_bound_chat_is_no_problem_report(rdesk, kind):
    from domain import invitations
    from domain.models import Customer
    await bound_chat(rdesk)
    if kind == "staff":
        await rdesk.say(LEAD, lead, "/staff_invite engineer")
        token = re.search(r"\?start=(\S+)", rdesk.last_reply(LEAD))[1]
    else:
        token = await invitations.create(kind, LEAD, rdesk.clock.now(), customer=await Customer.get(code="BETA"))
    said = await rdesk.room.message(msg(rdesk, token))
    assert not await Incident.filter(title__contains=token).exists()
    assert not await IncidentMessage.filter(text__contains=token).exists()
    assert said  # answered, as the same code in an unbound chat is
