"""Hostile tests, fourth round, eXpress (the harness of tests/test_express.py): a chat the bot is put back in."""

import uuid

from domain import customers
from domain.models import Incident, IncidentMessage, Outbox
from tests import test_express as base
from tests.botx_api import HOST
from tests.test_express import ANNA, BOT_ID, CHAT

room = base.room  # its fixture


def added_to_chat(chat_id: str, huid: str) -> dict:
    """`system:added_to_chat`: BotX tells the bot who was added to a chat (here: the bot itself)."""
    return {"bot_id": BOT_ID, "sync_id": str(uuid.uuid4()), "source_sync_id": None, "proto_version": 4,
            "command": {"body": "system:added_to_chat", "command_type": "system", "metadata": {},
                        "data": {"added_members": [huid]}},
            "attachments": [], "async_files": [], "entities": [],
            "from": {"user_huid": None, "group_chat_id": chat_id, "chat_type": "group_chat", "ad_login": None,
                     "ad_domain": None, "username": None, "is_admin": None, "is_creator": None, "host": HOST}}


async def test_a_chat_the_bot_is_added_back_to_hears_its_acknowledgement(room):
    await room.bind()
    room.botx.gone_chats.add(CHAT)  # the bot removed: what is owed there is refused (chat_not_found)
    assert (await room.botx.command(CHAT, ANNA, "The mail server is down"))[0] == 202
    await room.settle()
    assert await customers.unreachable_since("express", f"{BOT_ID}:{CHAT}") is not None
    room.botx.gone_chats.discard(CHAT)  # put back: BotX says so, and the customer writes again
    assert await room.botx.post("/express/command", added_to_chat(CHAT, BOT_ID)) == 202
    assert (await room.botx.command(CHAT, ANNA, "/new Are you there? Nothing works"))[0] == 202
    await room.settle()
    incident = await Incident.get(key="ACME-2")
    rows = await Outbox.filter(kind="ack", incident=incident, channel="express").values_list("status", "error")
    assert any("ACME-2" in m["body"] for m in room.botx.sent(CHAT)), rows


async def test_a_message_of_only_a_newer_clients_attachment_is_not_lost(room):
    await room.bind()
    poll = {"type": "poll", "data": {"question": "Когда починят почту?", "options": ["Сегодня", "Завтра"]}}
    status, ref = await room.botx.command(CHAT, ANNA, "", attachments=[poll])
    assert status == 202
    assert await IncidentMessage.filter(ref=ref).exists() and await Incident.filter(key="ACME-1").exists()


async def test_a_cts_server_a_few_seconds_ahead_is_still_heard(room):
    import time
    await room.bind()
    ahead = int(time.time()) + 5  # an on-premises CTS server's clock, five seconds fast
    token = room.botx.signature(iat=ahead, nbf=ahead, exp=ahead + 7200)
    status, ref = await room.botx.command(CHAT, ANNA, "The mail server is down", token=token)
    assert status == 202 and await IncidentMessage.filter(ref=ref).exists()


async def test_a_message_with_a_broken_emoji_is_taken_in(room):
    await room.bind()
    status, ref = await room.botx.command(CHAT, ANNA, "The mail server is down \ud83d")
    assert status == 202 and await IncidentMessage.filter(ref=ref).exists()
