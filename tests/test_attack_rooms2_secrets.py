"""Secrets shown in a customer's chat room (the harness of tests/test_chatroom.py). A live code made for somewhere
else, sent in a customer's eXpress chat by mistake (a lead pasting into the wrong window), is answered "this code
is for …" and kept nowhere; but every member of that chat has read it, and it stays good."""

import re

from domain.models import Conversation, Staff
from tests import test_chatroom as base
from tests.people import CUSTOMER, LEAD, customer, lead
from tests.test_chatroom import bound_chat, msg

rdesk = base.rdesk  # its fixture


async def test_a_staff_invitation_shown_in_a_customers_chat_is_burnt(rdesk):
    await bound_chat(rdesk)
    await rdesk.say(LEAD, lead, "/staff_invite engineer")
    token = re.search(r"\?start=(\S+)", rdesk.last_reply(LEAD))[1]
    said = await rdesk.room.message(msg(rdesk, token, name="Lead, in the wrong window"))
    assert said  # answered: the code is for Telegram
    await rdesk.say(CUSTOMER, customer, f"/start {token}")  # a member of the chat who read it
    assert not await Staff.exists(user_id=CUSTOMER, active=True)


async def test_another_customers_code_shown_in_a_chat_is_burnt(rdesk):
    await bound_chat(rdesk)  # ACME's eXpress chat
    await rdesk.say(LEAD, lead, "/invite BETA express")
    beta_code = re.search(r"^([A-Za-z0-9_-]{16,64})$", rdesk.last_reply(LEAD), re.MULTILINE)[1]
    await rdesk.room.message(msg(rdesk, beta_code))  # pasted in ACME's chat: "already bound to ACME"
    # An ACME member who read it sends it in a new eXpress chat of their own.
    said = await rdesk.room.message(msg(rdesk, beta_code, chat="0bd3c8d6-0000-4000-8000-0000000000ee"))
    assert not await Conversation.exists(channel="express", ref="0bd3c8d6-0000-4000-8000-0000000000ee",
                                         customer__code="BETA"), [s.text for s in said]
