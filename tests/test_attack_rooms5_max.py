"""Hostile tests, fifth round, MAX (the harness of tests/test_max_room.py: the chat-room layer on a real database,
the MAX stand-in)."""

import re

from domain.models import Conversation, Incident
from tests import test_max_room as base
from tests.test_max_room import CHAT, IVAN, arrive, bind

room, max_api = base.room, base.max_api  # its fixtures


async def test_a_customer_sets_the_chats_language_with_lang(room, max_api):
    await bind(room, max_api)
    mark = max_api.mark()
    await arrive(room, max_api.message(CHAT, IVAN, "/lang ru", "mid.lang"))
    assert not await Incident.exists(), await Incident.all().values_list("key", "title")
    assert (await Conversation.get(channel="max", ref=str(CHAT))).lang == "ru"
    assert all(re.search("[а-яА-Я]", c.body["text"]) for c in max_api.sent(mark))
