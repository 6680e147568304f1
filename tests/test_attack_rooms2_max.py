"""Hostile tests of MAX in a customer's chat, second round (the harness of tests/test_max_room.py): what the desk
answers in the chat at once when MAX fails a send once, and what a customer forwards into the chat."""

from domain.models import Incident, IncidentMessage, Outbox, UnboundMessage
from handlers.max.transport import _after, handle_once
from handlers.max.updates import read
from tests import test_max_room as base
from tests.max_stub import user
from tests.test_max_room import CHAT, IVAN, arrive

room, max_api = base.room, base.max_api  # its fixtures

async def polled(desk, raw: dict) -> None:
    """An update as the poller takes it: handled in its transaction, then what it owes once committed."""
    await _after(await handle_once(read(raw), desk.handle, desk.clock))


async def bind(desk, max_api):
    import re

    from domain.models import Conversation
    from tests.people import LEAD, lead
    await desk.say(LEAD, lead, "/invite ACME max")
    code = re.search(r"^([A-Za-z0-9_-]{16,64})$", desk.last_reply(LEAD), re.MULTILINE)[1]
    max_api.titles[CHAT] = "Acme"
    await polled(desk, max_api.message(CHAT, IVAN, code, "mid.code"))
    return await Conversation.get(channel="max", ref=str(CHAT))


OUTAGE = (503, {"code": "internal.error", "message": "Service temporarily unavailable"})


async def test_a_status_answer_survives_one_failed_send(room, max_api):
    await bind(room, max_api)
    await arrive(room, max_api.message(CHAT, IVAN, "Почта не работает", "mid.s1"))
    await room.flush()  # the acknowledgement is out
    mark = max_api.mark()
    max_api.faults["POST /messages"] = [OUTAGE]  # MAX fails the next send once, then works again
    await polled(room, max_api.message(CHAT, IVAN, "/status", "mid.s2"))
    from datetime import timedelta
    for _ in range(3):  # whatever is owed is retried: a minute later, MAX is back
        room.clock.advance(timedelta(minutes=1))
        await room.flush()
    answers = [c for c in max_api.sent(mark) if c.query.get("chat_id") == str(CHAT)]
    assert any("ACME-1" in (c.body.get("text") or "") for c in answers), [c.body for c in answers]


async def test_the_binding_confirmation_survives_one_failed_send(room, max_api):
    from datetime import timedelta
    max_api.faults["POST /messages"] = [OUTAGE]
    conversation = await bind(room, max_api)
    assert conversation.customer_id is not None  # bound all the same
    for _ in range(3):
        room.clock.advance(timedelta(minutes=1))
        await room.flush()
    assert any(c.query.get("chat_id") == str(CHAT) and "ACME" in (c.body.get("text") or "") for c in max_api.sent())


async def test_a_forwarded_message_in_a_bound_chat_is_taken_in(room, max_api):
    await bind(room, max_api)
    colleague = user(4777, "Коллега")
    raw = max_api.message(CHAT, IVAN, None, "mid.fwd")
    raw["message"]["body"] = None  # MAX: "may be null if the message contains only a forwarded message"
    raw["message"]["link"] = {"type": "forward", "sender": colleague, "chat_id": -99,
                              "message": {"mid": "mid.orig", "seq": 1, "text": "ORA-00600: internal error",
                                          "attachments": []}}
    await arrive(room, raw)
    assert await Incident.all().count() == 1
    assert await IncidentMessage.filter(text__contains="ORA-00600").exists()
    assert await Outbox.filter(kind="new").exists()  # the on-call engineer is paged
    assert not await UnboundMessage.exists()
