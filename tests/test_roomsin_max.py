"""A MAX message that is only a forward (task roomsin), beside tests/test_attack_rooms2_max.py."""

from domain.identities import person_for
from domain.models import IncidentMessage
from tests import test_max_room
from tests.max_stub import user

room, max_api = test_max_room.room, test_max_room.max_api  # its fixtures



async def test_a_forward_with_an_empty_body_is_taken_in_once(room, max_api):
    await test_max_room.bind(room, max_api)
    raw = max_api.message(test_max_room.CHAT, test_max_room.IVAN, "", "mid.own")
    raw["message"]["link"] = {"type": "forward", "sender": user(4777, "Коллега"), "chat_id": -99,
                              "message": {"mid": "mid.orig", "seq": 1, "text": "Disk full on db-2",
                                          "attachments": []}}
    await test_max_room.arrive(room, raw)
    await test_max_room.arrive(room, raw)  # MAX sends it again: one message
    stored = await IncidentMessage.filter(text="Disk full on db-2")
    assert [m.ref for m in stored] == ["mid.own"]


async def test_a_nul_in_a_dialog_senders_name_is_cleaned(room, max_api):
    stranger = user(4888, "Ко\x00ля", "\u202eПетров")
    await test_max_room.arrive(room, max_api.message(4888, stranger, "Здравствуйте", "mid.d9", chat_type="dialog"))
    person = await person_for("max", "4888", room.clock.now())
    assert person.full_name == "Ко\ufffdля Петров"
