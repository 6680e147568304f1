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


async def test_a_cts_server_more_than_a_minute_ahead_is_refused_and_one_a_minute_off_is_heard(room):
    import time

    from domain.models import IncidentMessage
    from handlers.express.server import CLOCK_SKEW
    from tests.test_express import ANNA
    await room.bind()
    ahead = int(time.time()) + CLOCK_SKEW + 30  # beyond the leeway: not valid yet
    status, ref = await room.botx.command(CHAT, ANNA, "The mail server is down",
                                          token=room.botx.signature(iat=ahead, nbf=ahead, exp=ahead + 7200))
    assert status == 401 and not await IncidentMessage.filter(ref=ref).exists()
    behind = int(time.time()) - 7200 - CLOCK_SKEW + 20  # expired by its own clock, within the leeway by ours
    status, ref = await room.botx.command(CHAT, ANNA, "The mail server is down",
                                          token=room.botx.signature(iat=behind, nbf=behind, exp=behind + 7200))
    assert status == 202 and await IncidentMessage.filter(ref=ref).exists()
    status, _ = await room.botx.command(CHAT, ANNA, "No expiry", token=room.botx.signature(exp=None))
    assert status == 401  # the desk's own checks stay: `exp` required


async def test_an_attachment_pybotx_does_not_know_is_kept_by_its_kind_beside_the_words(room):
    from domain.models import IncidentMessage
    from tests.test_express import ANNA
    await room.bind()
    poll = {"type": "poll", "data": {"question": "Когда починят почту?", "options": ["Сегодня", "Завтра"]}}
    status, ref = await room.botx.command(CHAT, ANNA, "Vote, please", attachments=[poll])
    assert status == 202
    kept = await IncidentMessage.get(ref=ref)
    assert (kept.text, kept.attachments) == ("Vote, please", [{"kind": "poll"}])
