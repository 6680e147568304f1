"""The outbox addresses a customer's conversation by its id, on whatever channel it is: the channel finds
its address at send time, and the reference of what it sent is its own text (`Outbox.sent_ref`)."""

from __future__ import annotations

from domain import channels, customers, outbox
from domain.models import Conversation, Outbox
from tests.channels import LoftChannel
from tests.owed import owe_text
from tests.people import ENGINEER
from tests.test_outbox import incident_pair


async def loft_desk(desk):
    loft = LoftChannel()
    assert isinstance(loft, channels.Channel)
    desk.outbox.channels.register(loft)
    customer = await customers.add_customer("ACME", "24x7", "Acme", desk.clock.now())
    room = await Conversation.create(channel=loft.name, ref="room-7", customer=customer, kind="room")
    return loft, room


async def test_a_conversation_recipient_on_another_channel_reaches_it_at_its_ref(desk):
    loft, room = await loft_desk(desk)
    await outbox.enqueue("notice", outbox.conversation(room), desk.clock.now(),
                         params=outbox.say("announce.no_contacts"))
    row = await Outbox.get()
    assert (row.channel, row.conversation_id, row.chat_id, row.person_id) == ("loft", room.id, None, None)

    await desk.flush()
    assert loft.sent == [("room-7", "notice", outbox.say("announce.no_contacts"))]
    row = await Outbox.get()
    assert (row.status, row.sent_ref, outbox.sent_ref(row)) == ("sent", "loft-1", "loft-1")
    assert desk.stub.find("sendMessage") == []  # nothing went to Telegram


async def test_a_conversation_that_moved_is_reached_at_its_new_address(desk):
    loft, room = await loft_desk(desk)
    await outbox.enqueue("notice", outbox.conversation(room), desk.clock.now(),
                         params=outbox.say("announce.no_contacts"))
    await Conversation.filter(id=room.id).update(ref="room-8")  # the address changed after the row was owed
    await desk.flush()
    assert [ref for ref, _, _ in loft.sent] == ["room-8"]


async def test_a_row_owed_before_its_chat_moved_to_another_customer_is_dropped_not_failed(desk):
    loft, room = await loft_desk(desk)
    await outbox.enqueue("notice", outbox.conversation(room), desk.clock.now(),
                         params=outbox.say("announce.no_contacts"))
    assert (await Outbox.get()).params[outbox.FOR_CUSTOMER] == room.customer_id
    beta = await customers.add_customer("BETA", "8x5", "Beta", desk.clock.now())
    await Conversation.filter(id=room.id).update(customer_id=beta.id)
    await desk.flush()
    assert loft.sent == []
    row = await Outbox.get()
    assert row.status == "dropped" and "another customer" in (row.error or ""), (row.status, row.error)


async def test_a_row_written_before_the_customer_was_recorded_is_sent_as_before(desk):
    loft, room = await loft_desk(desk)
    await outbox.enqueue("notice", outbox.conversation(room), desk.clock.now(),
                         params=outbox.say("announce.no_contacts"))
    await Outbox.all().update(params=outbox.say("announce.no_contacts"))  # as an older version wrote it
    beta = await customers.add_customer("BETA", "8x5", "Beta", desk.clock.now())
    await Conversation.filter(id=room.id).update(customer_id=beta.id)
    await desk.flush()
    assert [ref for ref, _, _ in loft.sent] == ["room-7"]


async def test_an_unreachable_conversation_on_another_channel_is_marked_so(desk):
    loft, room = await loft_desk(desk)
    loft.refusing.add("room-7")
    await outbox.enqueue("notice", outbox.conversation(room), desk.clock.now(),
                         params=outbox.say("announce.no_contacts"))
    await desk.flush()
    assert (await Outbox.get(channel="loft")).status == "failed"
    assert (await Conversation.get(id=room.id)).unreachable_since == desk.clock.now()
    assert await customers.is_unreachable("loft", "room-7", desk.clock.now())



async def test_a_sent_message_is_found_by_its_reference_as_text_and_by_an_old_rows_message_id(desk):
    now = desk.clock.now()
    first, second = await incident_pair(now)
    for incident, ref, message_id in ((first, "<owed.1@desk.example>", None), (second, None, 41)):
        await owe_text(ENGINEER, "ping", now, kind="new", incident_id=incident.id)
        await Outbox.filter(incident_id=incident.id).update(status="sent", sent_ref=ref, message_id=message_id)
    assert await outbox.incident_of_sent(ENGINEER, "<owed.1@desk.example>") == first.id
    assert await outbox.incident_of_sent(ENGINEER, 41) == second.id  # sent before 0015: its message id
    assert await outbox.incident_of_sent(ENGINEER, "41") == second.id
    assert await outbox.incident_of_sent(ENGINEER, 42) is None
    assert [outbox.sent_ref(row) for row in await outbox.sent_pings(first.id)] == ["<owed.1@desk.example>"]
    assert [outbox.sent_ref(row) for row in await outbox.sent_pings(second.id)] == ["41"]
