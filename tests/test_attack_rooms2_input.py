"""Hostile input to the chat-room layer, second round (the harness of tests/test_chatroom.py): NUL characters
in what the channel's server gives besides the text (the sender's display name, a file's name). The text is
cleaned (`domain.text.clean`: PostgreSQL refuses NUL), these are stored as they came."""

import pytest

from domain.identities import person_for
from domain.models import IncidentMessage, Person
from tests import test_chatroom as base
from tests.test_chatroom import BORIS, bound_chat, msg

rdesk = base.rdesk  # its fixture


async def test_a_nul_in_the_senders_name_is_cleaned_and_the_message_taken_in(rdesk):
    await bound_chat(rdesk)
    await rdesk.room.message(msg(rdesk, "Mail is down", sender=BORIS, name="Bo\x00ris"))
    person = await person_for("express", BORIS, rdesk.clock.now())
    assert "\x00" not in person.full_name
    assert await IncidentMessage.filter(text="Mail is down").exists()
    # In Python, not LIKE: SQLite ends a pattern at its NUL, and '%' matches every row.
    assert not any("\x00" in name for name in await Person.all().values_list("full_name", flat=True))


async def test_a_nul_in_a_file_name_is_cleaned_and_the_message_taken_in(rdesk):
    await bound_chat(rdesk)
    await rdesk.room.message(msg(rdesk, "see the log", attachments=[{"kind": "document", "name": "log\x00.txt",
                                                                   "size": "12"}]))
    stored = await IncidentMessage.get(text="see the log")
    assert all("\x00" not in value for item in stored.attachments for value in item.values())


@pytest.mark.parametrize("text", ["\u200b", "\u2060\u200b", "\ufeff", "\u200d \u200c"])
async def test_a_message_of_invisible_characters_opens_no_incident(rdesk, text):
    from domain.models import Incident, Outbox
    await bound_chat(rdesk)
    await rdesk.room.message(msg(rdesk, text))
    assert await Incident.all().count() == 0
    assert not await Outbox.filter(kind="new").exists()
