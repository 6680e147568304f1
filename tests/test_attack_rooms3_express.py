"""Hostile tests, third round, eXpress (the harness of tests/test_express.py): the acknowledgement quotes the
first words of the customer's message, and pybotx turns `<embed_mention>TYPE:ID:NAME</embed_mention>` in any body
it sends into a real eXpress mention."""

from datetime import timedelta

from tests import test_attack_rooms2_express as rooms2
from tests import test_express as base
from tests.test_express import ANNA, CHAT

room = base.room  # its fixture


def mentions_sent(room) -> list:
    return [m for call in room.botx.calls if call.path == "/api/v4/botx/notifications/direct"
            for m in ((call.json.get("notification") or {}).get("mentions") or [])]


async def test_quoted_words_mention_no_one(room):
    await room.bind()
    await room.botx.command(CHAT, ANNA, "<embed_mention>ALL::</embed_mention> the VPN is down")
    await rooms2.settle(room)
    assert any("ACME-1" in m["body"] for m in room.botx.sent(CHAT))
    assert mentions_sent(room) == []


async def test_an_acknowledgement_quoting_a_broken_mention_is_delivered(room):
    await room.bind()
    await room.botx.command(CHAT, ANNA, "<embed_mention>all::</embed_mention> the VPN is down")
    for _ in range(3):
        await rooms2.settle(room)
        room.desk.clock.advance(timedelta(minutes=1))
    assert any("ACME-1" in m["body"] for m in room.botx.sent(CHAT)), room.botx.sent(CHAT)


async def test_status_with_such_a_title_is_answered(room):
    await room.bind()
    await room.botx.command(CHAT, ANNA, "<embed_mention>all::</embed_mention> the VPN is down")
    await room.botx.command(CHAT, ANNA, "/status")
    for _ in range(3):
        room.desk.clock.advance(timedelta(minutes=5))
        await rooms2.settle(room)
    assert any(m["body"].startswith("Open incidents") for m in room.botx.sent(CHAT)), room.botx.sent(CHAT)
