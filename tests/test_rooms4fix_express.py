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


async def test_a_link_code_links_in_a_personal_chat_and_is_burnt_in_a_group_chat(room):
    import re

    from domain import people
    from domain.identities import person_for
    from domain.models import Invitation
    from tests.people import ENGINEER, LEAD, engineer
    await room.bind()
    await people.register_staff(ENGINEER, "engineer", LEAD, room.desk.clock.now())
    boris, personal = "e0000000-0000-4000-8000-00000000000e", "0bd3c8d6-0000-4000-8000-0000000000e1"

    async def code() -> str:
        await room.desk.say(ENGINEER, engineer, "/link express")
        return re.search(r"^([A-Za-z0-9_-]{16,64})$", room.desk.last_reply(ENGINEER), re.MULTILINE)[1]

    shown = await code()
    assert (await room.botx.command(CHAT, boris, shown, username="Boris"))[0] == 202  # in the customer's chat
    await room.settle()
    assert (await person_for("express", boris, room.desk.clock.now())).id != ENGINEER
    assert (await Invitation.get(kind="link")).burnt_at is not None
    assert any("private dialog" in m["body"] for m in room.botx.sent(CHAT))
    assert "was shown in a customer's chat" in room.desk.last_reply(ENGINEER)  # its maker is told
    assert (await room.botx.command(personal, boris, shown, username="Boris", chat_type="chat"))[0] == 202
    await room.settle()
    assert (await person_for("express", boris, room.desk.clock.now())).id != ENGINEER  # burnt: links nobody
    assert (await room.botx.command(personal, boris, await code(), username="Boris", chat_type="chat"))[0] == 202
    await room.settle()
    assert (await person_for("express", boris, room.desk.clock.now())).id == ENGINEER
    assert any("linked" in m["body"] for m in room.botx.sent(personal))


async def test_a_reply_naming_the_chat_anew_renames_it(room):
    from domain.models import Conversation
    from tests.botx_api import message_payload
    from tests.test_express import ANNA
    chat = await room.bind()
    status, first = await room.botx.command(CHAT, ANNA, "The mail server is down")
    assert status == 202
    payload = message_payload(BOT_ID, CHAT, ANNA, "Still down", reply_to=first)
    for entity in payload["entities"]:
        if entity["type"] == "reply":
            entity["data"]["source_chat_name"] = "Acme — 1C support"  # the chat was renamed meanwhile
    assert await room.botx.post("/express/command", payload) == 202
    await room.settle()
    assert (await Conversation.get(id=chat.id)).title == "Acme — 1C support"
