"""What the fourth attack on eXpress found, fixed (the harness of tests/test_express.py)."""

from domain import customers
from tests import test_express as base
from tests.test_attack_rooms4_express import added_to_chat
from tests.test_express import BOT_ID, CHAT

room = base.room  # its fixture


async def _nothing(chat) -> None:
    return None


async def test_express_added_to_chat_alone_makes_the_chat_reachable(room):
    await room.bind()
    ref = f"{BOT_ID}:{CHAT}"
    await customers.set_reachable("express", ref, False, room.desk.clock.now(), _nothing)
    assert await room.botx.post("/express/command", added_to_chat(CHAT, BOT_ID)) == 202
    assert await customers.unreachable_since("express", ref) is None
