"""A MAX message that is only a forward (task roomsin), beside tests/test_attack_rooms2_max.py."""

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
