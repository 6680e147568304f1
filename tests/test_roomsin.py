"""What comes in from eXpress and MAX (task roomsin): the one 'anything in this text' rule, names and titles
without bidi controls, eXpress mentions and unknown system events (MAX forwards: test_roomsin_max.py)."""

import logging
from email.message import EmailMessage

import pytest

from domain.identities import person_for
from domain.models import Incident, IncidentMessage
from domain.text import has_words, shown
from handlers.email.parser import parse_mail
from locales import t
from tests import test_chatroom, test_express
from tests.botx_api import message_payload

rdesk = test_chatroom.rdesk
room = test_express.room


@pytest.mark.parametrize("text", ["", "  \n", "\u200b", "\u2060\u200b", "\ufeff", "\u200d \u200c", "\u00ad",
                                  "\u202e\u200f"])
def test_invisible_text_has_no_words(text):
    assert not has_words(text)


@pytest.mark.parametrize("text", ["a", " \u200bok", "👨\u200d👩\u200d👧", "\u202eab"])
def test_visible_text_has_words(text):
    assert has_words(text)


def test_a_name_is_shown_without_bidi_controls_and_nul():
    assert shown("Anna \u202egpj.exe\u202c \u2066x\u2069\x00") == "Anna gpj.exe x\ufffd"


async def test_bidi_controls_leave_chat_room_names_and_titles(rdesk):
    await test_chatroom.bound_chat(rdesk)
    await rdesk.room.message(test_chatroom.msg(rdesk, "Invoice \u202efdp.exe\u202c fails", sender=test_chatroom.BORIS,
                                               name="Bo\u202eris"))
    person = await person_for("express", test_chatroom.BORIS, rdesk.clock.now())
    assert person.full_name == "Boris"
    incident = await Incident.get(key="ACME-1")
    assert incident.title == "Invoice fdp.exe fails"
    stored = await IncidentMessage.get(incident_id=incident.id)
    assert stored.author == "Boris"
    assert stored.text == "Invoice \u202efdp.exe\u202c fails"  # the words themselves are kept as written


async def test_new_with_only_invisible_characters_is_a_usage_error(rdesk):
    await test_chatroom.bound_chat(rdesk)
    said = await rdesk.room.message(test_chatroom.msg(rdesk, "/new \u200b\u2060"))
    assert [s.text for s in said] == [t("en", "usage.new")]
    assert await Incident.all().count() == 0


def test_a_mail_whose_plain_part_is_invisible_is_read_from_its_html():
    msg = EmailMessage()
    msg["From"] = "Ivan \u202eIvanov <ivan@acme.ru>"
    msg["To"] = "support@vendor.example"
    msg["Subject"] = "Down"
    msg["Message-ID"] = "<m1@acme.ru>"
    msg.set_content("\u200b\n")
    msg.add_alternative("<p>The server is down</p>", subtype="html")
    parsed = parse_mail(bytes(msg))
    assert parsed.text == "The server is down"
    assert parsed.sender_name == "Ivan Ivanov"


# ---- eXpress ----

async def test_an_unknown_system_event_is_logged_once_and_still_verified(room, caplog):
    await room.bind()

    def event() -> dict:
        payload = message_payload(test_express.BOT_ID, test_express.CHAT, test_express.ANNA, "system:theme_changed")
        payload["command"].update(command_type="system", data={"theme": "dark"})
        payload["from"]["user_huid"] = None
        return payload

    assert await room.botx.post("/express/command", event(), token="not-a-token") == 401
    with caplog.at_level(logging.INFO, logger="handlers.express.server"):
        assert await room.botx.post("/express/command", event()) == 202
        assert await room.botx.post("/express/command", event()) == 202
    noted = [r for r in caplog.records if "system:theme_changed" in r.getMessage()]
    assert len(noted) == 1 and noted[0].levelno == logging.INFO


async def test_mentions_of_a_contact_a_chat_and_all_are_named_and_an_unnamed_one_stays(room):
    await room.bind()
    ids = [f"c0000000-0000-4000-8000-00000000000{n}" for n in range(1, 5)]
    body = f"@@{{mention:{ids[0]}}} and ##{{mention:{ids[1]}}} and @{{mention:{ids[2]}}} @{{mention:{ids[3]}}} help"
    payload = message_payload(test_express.BOT_ID, test_express.CHAT, test_express.ANNA, body)
    payload["entities"] = [
        {"type": "mention", "data": {"mention_type": "contact", "mention_id": ids[0], "mention_data": {
            "user_huid": "b0000000-0000-4000-8000-00000000000b", "name": "Boris", "conn_type": "cts"}}},
        {"type": "mention", "data": {"mention_type": "chat", "mention_id": ids[1], "mention_data": {
            "group_chat_id": "0bd3c8d6-0000-4000-8000-000000000009", "name": "Ops"}}},
        {"type": "mention", "data": {"mention_type": "all", "mention_id": ids[2], "mention_data": None}},
    ]
    assert await room.botx.post("/express/command", payload) == 202
    stored = await IncidentMessage.get()
    assert stored.text == f"@Boris and #Ops and @all @{{mention:{ids[3]}}} help"

