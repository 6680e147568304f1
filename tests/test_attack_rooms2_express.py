"""Hostile tests of eXpress, second round (the harness of tests/test_express.py): a BotX API that answers a send
with garbage or fails it once, and a CTS server posting what a newer eXpress sends (a client platform or a
system event this pybotx does not know)."""

import contextlib
from datetime import timedelta

from domain.models import Incident, IncidentMessage, Outbox
from locales import t
from tests import test_express as base
from tests.botx_api import message_payload
from tests.test_express import ANNA, BOT_ID, CHAT

room = base.room  # its fixture


async def settle(room) -> None:
    """What the bot owes is sent and BotX's results are in; a courier round that fails is what the running
    courier logs ("outbox courier round failed") before its next round."""
    for _ in range(5):
        with contextlib.suppress(Exception):
            await room.settle()


def delivered_after_the_503(room, mark: int) -> list[str]:
    """The bodies BotX accepted after `mark`: the stand-in records a refused call too, and `fail_next = [503]`
    refuses the first send after it."""
    sends = [c for c in room.botx.calls[mark:] if c.path == "/api/v4/botx/notifications/direct" and c.authorized]
    return [(c.json.get("notification") or {}).get("body", "") for c in sends[1:]]


async def test_a_garbage_answer_to_a_send_is_classified_not_left_sending(room):
    await room.bind()
    room.botx.fail_next = [200]  # a proxy in front of BotX answers 200 with a body that is no BotX answer
    await room.botx.command(CHAT, ANNA, "The mail server is down")
    await settle(room)
    ack = await Outbox.get(kind="ack")
    assert ack.status != "sending", (ack.status, ack.error)


async def test_a_status_answer_survives_one_failed_send(room):
    await room.bind()
    await room.botx.command(CHAT, ANNA, "The mail server is down")
    await settle(room)
    mark = len(room.botx.calls)
    room.botx.fail_next = [503]
    status, _ = await room.botx.command(CHAT, ANNA, "/status")
    assert status == 202
    for _ in range(3):  # a minute later BotX is back: whatever is owed is sent
        room.desk.clock.advance(timedelta(minutes=1))
        await settle(room)
    assert any("ACME-1" in body for body in delivered_after_the_503(room, mark)), delivered_after_the_503(room, mark)


async def test_the_binding_confirmation_survives_one_failed_send(room):
    mark = len(room.botx.calls)
    room.botx.fail_next = [503]
    chat = await room.bind()
    assert chat.customer.code == "ACME"
    for _ in range(3):
        room.desk.clock.advance(timedelta(minutes=1))
        await settle(room)
    assert any("ACME" in body for body in delivered_after_the_503(room, mark)), delivered_after_the_503(room, mark)


async def test_a_message_from_an_unknown_client_platform_is_taken_in(room):
    await room.bind()
    payload = message_payload(BOT_ID, CHAT, ANNA, "Printers are offline")
    payload["from"]["platform"] = "harmonyos"
    status = await room.botx.post("/express/command", payload)
    assert await IncidentMessage.filter(text="Printers are offline").exists()
    assert await Incident.all().count() == 1
    assert status == 202


async def test_an_unknown_system_event_is_passed_over(room):
    await room.bind()
    payload = message_payload(BOT_ID, CHAT, ANNA, "system:chat_theme_changed")
    payload["command"]["command_type"] = "system"
    payload["command"]["data"] = {"theme": "dark"}
    payload["from"]["user_huid"] = None
    status = await room.botx.post("/express/command", payload)
    assert status in (200, 202)
    assert await Incident.all().count() == 0


async def test_a_long_status_answer_is_sent_in_parts_botx_takes(room):
    from handlers.express.channel import BODY_LIMIT
    await room.bind()
    for number in range(20):
        await room.botx.command(CHAT, ANNA, f"/new {number:02d} " + "the nightly export to the warehouse fails " * 6)
    await settle(room)
    mark = len(room.botx.calls)
    await room.botx.command(CHAT, ANNA, "/status")
    await settle(room)
    bodies = [(c.json.get("notification") or {}).get("body", "") for c in room.botx.calls[mark:]
              if c.path == "/api/v4/botx/notifications/direct"]
    assert "ACME-20" in "".join(bodies)
    assert all(len(body) <= BODY_LIMIT for body in bodies), [len(body) for body in bodies]


async def test_a_mention_is_kept_as_the_name_it_stands_for(room):
    await room.bind()
    mention_id = "c0000000-0000-4000-8000-0000000000c1"
    payload = message_payload(BOT_ID, CHAT, ANNA, f"@{{mention:{mention_id}}} cannot log in since 9:00")
    payload["entities"] = [{"type": "mention", "data": {
        "mention_type": "user", "mention_id": mention_id,
        "mention_data": {"user_huid": "b0000000-0000-4000-8000-00000000000b", "name": "Boris Ivanov",
                         "conn_type": "cts"}}}]
    status = await room.botx.post("/express/command", payload)
    assert status == 202
    incident = await Incident.get(key="ACME-1")
    assert "{mention:" not in incident.title and "Boris Ivanov" in incident.title, incident.title


async def test_the_acknowledgement_says_whose_message_it_answers(room):
    """In a busy chat each customer must see which incident is theirs. Telegram and MAX reply to the
    customer's message; BotX's reply call gives back no sync_id to thread the customer's next reply by, so
    the eXpress acknowledgement names the author and quotes the words instead."""
    await room.bind()
    status, _ = await room.botx.command(CHAT, ANNA, "The mail server is down since the night update of all nodes in both data centres")
    assert status == 202
    await settle(room)
    ack = next(m["body"] for m in room.botx.sent(CHAT) if "ACME-1" in m["body"])
    first = ack.split("\n")[0]
    assert first.startswith(t("en", "answering.message_from", author="Anna Petrova", text="")[:-2]), first
    assert "The mail server is down since the night" in first and first.endswith("…»"), first


async def test_a_garbage_answer_that_lasts_fails_the_row_where_the_leads_see_it(room):
    """Retried with backoff while it may pass (a proxy's blip), then failed (counted on the desk page)."""
    from handlers.express.channel import GARBAGE_TRIES
    await room.bind()
    room.botx.fail_next = [200] * GARBAGE_TRIES
    await room.botx.command(CHAT, ANNA, "The mail server is down")
    await settle(room)
    ack = await Outbox.get(kind="ack")
    assert ack.status == "pending" and "no readable body" in ack.error, (ack.status, ack.error)
    for _ in range(GARBAGE_TRIES):
        room.desk.clock.advance(timedelta(minutes=1))
        await settle(room)
    ack = await Outbox.get(kind="ack")
    assert (ack.status, ack.attempts) == ("failed", GARBAGE_TRIES), (ack.status, ack.attempts, ack.error)


async def test_an_answer_to_a_chat_the_bot_left_is_not_sent_to_the_leads(room):
    """A direct answer (`/status`) owed to a chat the bot was removed from fails with the chat marked lost; unlike
    a notice about an incident, it is not rerouted to the staff chat and the leads (it tells them nothing)."""
    await room.bind()
    room.botx.gone_chats.add(CHAT)
    status, _ = await room.botx.command(CHAT, ANNA, "/status")
    assert status == 202
    await settle(room)
    answers = await Outbox.filter(kind="answer").order_by("id")
    assert [a.status for a in answers] == ["sent", "failed"], [(a.status, a.dedupe) for a in answers]
