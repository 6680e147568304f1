"""Hostile tests, third round: what an eXpress chat can still do or see after `/unbind express REF` (the harness
of tests/test_express.py: the real web app, a stand-in BotX)."""

from domain import people
from domain.models import Conversation, Incident, Outbox
from tests import test_chatroom
from tests import test_express as base
from tests.people import ENGINEER, LEAD, engineer, lead
from tests.test_express import ANNA, BOT_ID, CHAT

room = base.room  # its fixture
rdesk = test_chatroom.rdesk  # its fixture (the chat-room layer alone)


async def unbound_with_open_incident(room) -> tuple[Conversation, Incident]:
    chat = await room.bind()
    await room.botx.command(CHAT, ANNA, "The payroll export fails")
    await room.settle()
    await room.desk.say(LEAD, lead, f"/unbind express {BOT_ID}:{CHAT}")
    assert (await Conversation.get(id=chat.id)).customer_id is None
    return chat, await Incident.get(key="ACME-1")


async def test_a_rating_request_sent_after_the_unbind_can_be_used(room):
    _chat, incident = await unbound_with_open_incident(room)
    await people.register_staff(ENGINEER, "engineer", LEAD, room.desk.clock.now())
    await room.desk.say(ENGINEER, engineer, "/resolve ACME-1 Replaced the toner")
    await room.settle()
    prompts = [m for m in room.botx.sent(CHAT) if "Replaced the toner" in m["body"] and m["bubbles"]]
    if prompts:
        await room.botx.command(CHAT, ANNA, "/dd", data={"dd": prompts[-1]["bubbles"][0][4]["data"]["dd"]})
        await room.settle()
    # Either the chat is not asked to rate (it is nobody's now), or the buttons it was given work.
    assert not prompts or (await Incident.get(id=incident.id)).rating == 5, room.botx.sent(CHAT)[-1]


async def test_what_was_owed_before_the_unbind_is_not_sent_after_it(room):
    from datetime import timedelta

    from tests.test_attack_rooms2_express import settle
    await room.bind()
    room.botx.fail_next = [503]  # BotX is down for a moment: the announcement waits for its retry
    await room.desk.say(LEAD, lead, "/announce ACME Maintenance of the ACME payroll cluster tonight")
    await settle(room)
    assert (await Outbox.get(kind="announce")).status == "pending"
    await room.desk.say(LEAD, lead, f"/unbind express {BOT_ID}:{CHAT}")  # it was the wrong chat
    mark = len(room.botx.calls)
    for _ in range(3):
        room.desk.clock.advance(timedelta(minutes=1))
        await settle(room)
    bodies = [(c.json.get("notification") or {}).get("body", "") for c in room.botx.calls[mark:]
              if c.path == "/api/v4/botx/notifications/direct" and c.json.get("group_chat_id") == CHAT]
    assert not any("payroll cluster" in body for body in bodies), bodies


async def test_an_announcement_owed_before_a_move_does_not_reach_the_new_customer(room):
    from datetime import timedelta

    from tests.test_attack_rooms2_express import settle
    await room.desk.say(LEAD, lead, "/customer_add beta 8x5 Beta LLC")
    await room.desk.say(LEAD, lead, "/customer_set ACME contact Ivan Sidorov, CIO, +7 900 123-45-67")
    await room.bind()
    room.botx.fail_next = [503]
    await room.desk.say(LEAD, lead, "/announce ACME Maintenance of the ACME payroll cluster tonight")
    await settle(room)
    assert (await Outbox.get(kind="announce")).status == "pending"
    await room.desk.say(LEAD, lead, f"/unbind express {BOT_ID}:{CHAT}")
    await room.bind(code="BETA")  # the chat is Beta's now
    mark = len(room.botx.calls)
    for _ in range(3):
        room.desk.clock.advance(timedelta(minutes=1))
        await settle(room)
    bodies = [(c.json.get("notification") or {}).get("body", "") for c in room.botx.calls[mark:]
              if c.path == "/api/v4/botx/notifications/direct" and c.json.get("group_chat_id") == CHAT]
    assert not any("Ivan Sidorov" in body or "payroll cluster" in body for body in bodies), bodies


async def test_a_status_answer_owed_before_a_move_does_not_reach_the_new_customer(room):
    from datetime import timedelta

    from tests.test_attack_rooms2_express import settle
    await room.desk.say(LEAD, lead, "/customer_add beta 8x5 Beta LLC")
    await room.bind()
    await room.botx.command(CHAT, ANNA, "Payroll export for the ACME board fails")
    await settle(room)
    room.botx.fail_next = [503]
    await room.botx.command(CHAT, ANNA, "/status")
    await settle(room)
    await room.desk.say(LEAD, lead, f"/unbind express {BOT_ID}:{CHAT}")
    await room.bind(code="BETA")
    mark = len(room.botx.calls)
    for _ in range(3):
        room.desk.clock.advance(timedelta(minutes=1))
        await settle(room)
    bodies = [(c.json.get("notification") or {}).get("body", "") for c in room.botx.calls[mark:]
              if c.path == "/api/v4/botx/notifications/direct" and c.json.get("group_chat_id") == CHAT]
    assert not any("ACME board" in body for body in bodies), bodies


async def test_a_staff_answer_in_a_chat_unbound_meanwhile_is_kept_or_refused_aloud(rdesk):
    from domain import customers, people
    from tests.test_chatroom import DIALOG, ENGINEER_HUID, link_code, msg
    from tests.test_chatroom import bound_chat as bound_room
    await bound_room(rdesk)
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    await rdesk.room.message(msg(rdesk, await link_code(rdesk), chat=DIALOG, sender=ENGINEER_HUID, name="Boris",
                                 private=True))
    first = msg(rdesk, "The payroll export fails")
    await rdesk.room.message(first)
    await customers.unbind("express", CHAT)  # what `/unbind express REF` does (this harness names chats bare)
    said = await rdesk.room.message(msg(rdesk, "Fixed: restarted the export service", sender=ENGINEER_HUID,
                                        name="Boris", reply_to=first.ref))
    incident = await Incident.get(key="ACME-1")
    assert incident.responded_by == ENGINEER or said, (incident.responded_by, said)
