"""Hostile tests of MAX updates through the chat-room layer (the harness of tests/test_max_room.py)."""

import pytest

from domain.models import Incident, IncidentMessage
from tests import test_max_room as base
from tests.max_stub import BOT_USER_ID, user
from tests.test_max_room import CHAT, IVAN, arrive, bind

room, max_api = base.room, base.max_api  # its fixtures

DESK_BOT = {**user(BOT_USER_ID, "Desk"), "is_bot": True, "username": "desk_bot"}


async def test_the_desks_own_message_in_a_bound_chat_opens_nothing(room, max_api):
    await bind(room, max_api)
    await arrive(room, max_api.message(CHAT, DESK_BOT, "ACME-1: we have your request, we answer by 16:00",
                                       "mid.own"))
    assert await Incident.all().count() == 0
    assert not await IncidentMessage.filter(ref="mid.own").exists()


@pytest.mark.parametrize("attachments", [[], [{"type": "inline_keyboard", "payload": {"buttons": []}}]])
async def test_a_message_with_nothing_in_it_opens_no_incident(room, max_api, attachments):
    await bind(room, max_api)
    await arrive(room, max_api.message(CHAT, IVAN, None, "mid.empty", attachments=attachments))
    assert await Incident.all().count() == 0


async def test_a_message_without_a_timestamp_is_taken_in_not_a_poison(room, max_api):
    await bind(room, max_api)
    raw = max_api.message(CHAT, IVAN, "Почта не работает", "mid.t0")
    raw["timestamp"] = raw["message"]["timestamp"] = 0
    await arrive(room, raw)  # raises now: the poller's `take` retries it with backoff, never moving past it
    assert await IncidentMessage.filter(ref="mid.t0").exists()
