"""Hostile tests, third round, MAX (the harness of tests/test_max_room.py): a customer's message the reader cannot
read whole is set aside, and with it the customer's words."""

import pytest

from domain.models import Incident, IncidentMessage, ParkedUpdate
from handlers.max.room import make_on_set_aside
from handlers.max.transport import MaxPoller
from tests import databases
from tests import test_max_room as base
from tests.test_max_room import CHAT, IVAN, bind

room, max_api = base.room, base.max_api  # its fixtures


async def test_words_with_an_unknown_attachment_are_taken_in(room, max_api):
    import asyncio
    await bind(room, max_api)
    # A newer MAX client's attachment (a poll, say): the words beside it are a customer's problem report.
    raw = max_api.message(CHAT, IVAN, "Сервер 1С не отвечает с утра", "mid.poll",
                          attachments=[{"type": "poll", "payload": {"question": "Когда починят?"}}])
    poller = MaxPoller(room.max_bot, room.handle, room.clock, asyncio.Event())
    await poller.take(raw)
    parked = await ParkedUpdate.filter(channel="max").values_list("reason", "error")
    assert await IncidentMessage.filter(text__contains="Сервер 1С").exists(), parked
    assert await Incident.all().count() == 1


@pytest.mark.skipif(not databases.on_postgres(), reason="SQLite stores a NUL; PostgreSQL refuses it in jsonb")
async def test_an_unreadable_update_with_a_nul_is_set_aside_and_intake_goes_on(room, max_api):
    import asyncio
    await bind(room, max_api)
    raw = max_api.message(CHAT, IVAN, "Сервер\x00 лежит", "mid.nul",
                          attachments=[{"type": "image", "payload": "no object"}])  # a kind maxapi knows, unreadable
    stopping = asyncio.Event()
    poller = MaxPoller(room.max_bot, room.handle, room.clock, stopping, backoff=0.01,
                       on_set_aside=make_on_set_aside(room.max_bot, room.dp["desk"]))
    taking = asyncio.create_task(poller.take(raw))
    for _ in range(400):  # set aside (or handled) at once; a failing one is retried until the stop
        if taking.done():
            break
        await asyncio.sleep(0.01)
    stopping.set()
    taken = await taking
    assert taken and await ParkedUpdate.filter(channel="max").exists()
