"""Hostile tests, fifth round, eXpress (the harness of tests/test_express.py: the real web app, a stand-in BotX). An
edit (`system:event_edit`) was passed over when this was written; main follows it now: this holds."""

from domain.models import Incident, IncidentMessage
from tests import test_express as base
from tests.botx_api import HOST
from tests.test_express import ANNA, BOT_ID, CHAT

room = base.room  # its fixture


def edited(chat_id: str, huid: str, sync_id: str, body: str) -> dict:
    """`system:event_edit`: BotX tells the bot a message in the chat was edited (pybotx's EventEdit)."""
    return {"bot_id": BOT_ID, "sync_id": sync_id, "source_sync_id": None, "proto_version": 4,
            "command": {"body": "system:event_edit", "command_type": "system", "metadata": {},
                        "data": {"body": body}},
            "attachments": [], "async_files": [], "entities": [],
            "from": {"user_huid": huid, "group_chat_id": chat_id, "chat_type": "group_chat", "ad_login": None,
                     "ad_domain": None, "username": None, "is_admin": None, "is_creator": None, "host": HOST}}


async def test_an_edited_message_is_followed(room):
    await room.bind()
    status, ref = await room.botx.command(CHAT, ANNA, "hello")
    assert status == 202
    await room.settle()
    assert await room.botx.post("/express/command", edited(CHAT, ANNA, ref, "The payroll export fails")) == 202
    stored = await IncidentMessage.get(ref=ref)
    assert stored.text == "The payroll export fails", stored.text
    assert "payroll" in (await Incident.get(key="ACME-1")).title
