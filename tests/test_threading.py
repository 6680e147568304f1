"""Threading rules of intake on a real database, one rule and one boundary at a time."""

from datetime import UTC, datetime, timedelta

import pytest

from domain import customers
from domain.intake import Windows, record_bot_message, record_customer_message
from domain.models import Conversation, Incident
from domain.policy import load_policy
from domain.sla import Sla
from tests.channels import telegram_message, tg

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOWS = Windows(thread=timedelta(hours=4), reopen=timedelta(hours=72))
SLA = Sla(load_policy(None))
CHAT = -100900


@pytest.fixture
async def chat(db):
    await customers.add_customer("ACME", "8x5", "Acme", T0)
    await customers.bind_by_code("ACME", "telegram", str(CHAT), "Acme", "supergroup", 1, T0)
    return await Conversation.get(**tg(CHAT))


class Writer:
    def __init__(self, chat):
        self.chat, self.next_id = chat, 1

    async def __call__(self, text, at, reply_to=None, thread_id=None, force_new=False, message_id=None):
        message_id = message_id or self.next_id
        self.next_id = max(self.next_id, message_id) + 1
        msg = telegram_message(chat_id=CHAT, message_id=message_id, user_id=7, author="Client", text=text,
                              attachments=[], sent_at=at, reply_to=reply_to, thread_id=thread_id)
        result = await record_customer_message(msg, self.chat, SLA, WINDOWS, at, force_new=force_new)
        return result


async def test_window_boundaries(chat):
    write = Writer(chat)
    first = await write("one", T0)
    assert first.created and first.incident.key == "ACME-1"
    same = await write("two", T0 + WINDOWS.thread)  # activity moves to T0+4h
    assert not same.created and same.incident.key == "ACME-1"
    later = await write("three", T0 + 2 * WINDOWS.thread + timedelta(seconds=1))
    assert later.created and later.incident.key == "ACME-2"


async def test_two_open_incidents_in_one_chat(chat):
    write = Writer(chat)
    await write("first problem", T0, message_id=10)
    await write("second problem", T0 + timedelta(minutes=1), force_new=True, message_id=20)
    # Without a reply, the follow-up joins the incident with the latest activity.
    follow = await write("more", T0 + timedelta(minutes=2))
    assert follow.incident.key == "ACME-2"
    # A reply chooses its incident, whatever was active last.
    reply = await write("about the first", T0 + timedelta(minutes=3), reply_to=10)
    assert reply.incident.key == "ACME-1"
    again = await write("and more", T0 + timedelta(minutes=4))
    assert again.incident.key == "ACME-1"


async def test_reply_to_a_message_the_bot_never_saw_falls_back_to_the_window(chat):
    write = Writer(chat)
    await write("problem", T0)
    result = await write("reply to something old", T0 + timedelta(minutes=5), reply_to=999999)
    assert not result.created and result.incident.key == "ACME-1"


async def test_reply_to_the_bots_message_joins(chat):
    write = Writer(chat)
    first = await write("problem", T0)
    await record_bot_message(first.incident.id, "telegram", str(CHAT), "5000", "ack", T0)
    await write("other", T0 + timedelta(minutes=1), force_new=True)
    result = await write("re: ack", T0 + timedelta(minutes=2), reply_to=5000)
    assert result.incident.key == "ACME-1"


async def test_forum_topics(chat):
    write = Writer(chat)
    a = await write("topic a", T0, thread_id=1)
    b = await write("topic b", T0 + timedelta(minutes=1), thread_id=2)
    assert (a.incident.key, b.incident.key) == ("ACME-1", "ACME-2")
    # Days later, the topic's open incident still takes the message; the general chat does not.
    in_a = await write("topic a again", T0 + timedelta(days=3), thread_id=1)
    assert in_a.incident.key == "ACME-1"
    general = await write("general chat", T0 + timedelta(days=3, minutes=1))
    assert general.created


async def test_reopen_window_boundaries(chat):
    write = Writer(chat)
    first = await write("problem", T0, message_id=1)
    await Incident.filter(id=first.incident.id).update(status="resolved", resolved_at=T0)
    reopened = await write("again", T0 + WINDOWS.reopen, reply_to=1)
    assert reopened.reopened and reopened.incident.status == "in_progress"
    await Incident.filter(id=first.incident.id).update(status="resolved", resolved_at=T0)
    late = await write("much later", T0 + WINDOWS.reopen + timedelta(seconds=1), reply_to=1)
    assert late.created and (await Incident.get(id=first.incident.id)).status == "closed"


async def test_priority_and_title(chat):
    write = Writer(chat)
    result = await write("\n\n  Everything is DOWN since 9:00\nsecond line", T0)
    assert result.incident.priority == "P1" and result.incident.title == "Everything is DOWN since 9:00"
    question = await write("A question about reports", T0, force_new=True)
    assert question.incident.priority == "P4"


async def test_duplicate_message(chat):
    write = Writer(chat)
    await write("problem", T0, message_id=42)
    again = await write("problem", T0, message_id=42)
    assert again.duplicate and await Incident.all().count() == 1


async def test_resolved_incidents_close_after_the_reopen_window(chat):
    from domain.intake import close_expired
    from domain.models import IncidentEvent

    write = Writer(chat)
    first = await write("problem", T0)
    await Incident.filter(id=first.incident.id).update(status="resolved", resolved_at=T0)
    assert await close_expired(T0 + WINDOWS.reopen - timedelta(seconds=1), WINDOWS.reopen) == 0
    assert await close_expired(T0 + WINDOWS.reopen, WINDOWS.reopen) == 1
    incident = await Incident.get(id=first.incident.id)
    assert incident.status == "closed" and await IncidentEvent.exists(incident=incident, kind="closed")


async def test_a_reply_to_staffs_message_joins_its_incident(chat):
    """Rule 2 for staff: even when another incident of the chat is more recent."""
    from domain import incidents

    write = Writer(chat)
    first = await write("Problem one", T0)
    second = await write("/new Problem two", T0 + timedelta(minutes=1), force_new=True)
    await incidents.staff_message(first.incident, 2002, "Boris", chat.id, "50", "Looking into it", [],
                                  T0 + timedelta(minutes=2))
    await write("more on two", T0 + timedelta(minutes=3), reply_to=2)  # ACME-2 is now the most recent
    reply = await write("thanks, that helped", T0 + timedelta(minutes=4), reply_to=50)
    assert reply.incident.key == "ACME-1"
    assert second.incident.key == "ACME-2"


async def test_a_reply_to_a_closed_incident_opens_a_new_one(chat):
    write = Writer(chat)
    old = await write("old problem", T0, message_id=1)
    await Incident.filter(id=old.incident.id).update(status="closed", closed_at=T0 + timedelta(minutes=1))
    other = await write("another problem", T0 + timedelta(minutes=2), message_id=2)
    assert other.created and other.incident.key == "ACME-2"
    # The reply is about the closed problem, not the open one active a minute ago.
    reply = await write("the old thing is back", T0 + timedelta(minutes=3), reply_to=1, message_id=3)
    assert reply.created and reply.incident.key == "ACME-3"
    assert (await Incident.get(key="ACME-2")).last_activity_at == T0 + timedelta(minutes=2)
    assert (await Incident.get(key="ACME-1")).status == "closed"


async def test_a_reply_to_an_incident_resolved_long_ago_opens_a_new_one(chat):
    write = Writer(chat)
    old = await write("old problem", T0, message_id=1)
    await Incident.filter(id=old.incident.id).update(status="resolved", resolved_at=T0)
    later = T0 + WINDOWS.reopen + timedelta(hours=1)
    await write("another problem", later, message_id=2)
    reply = await write("re: old", later + timedelta(minutes=1), reply_to=1, message_id=3)
    assert reply.created and reply.incident.key == "ACME-3"
    assert (await Incident.get(key="ACME-1")).status == "closed"


@pytest.mark.parametrize("thread_id", [None, 5])
async def test_equal_activity_picks_the_newest_incident(chat, thread_id):
    write = Writer(chat)
    ids = []
    for n in range(4):  # four incidents opened in the same instant: their activity ties
        result = await write(f"problem {n}", T0, thread_id=thread_id, force_new=True)
        ids.append(result.incident.id)
    follow = await write("more", T0, thread_id=thread_id)
    assert follow.incident.id == max(ids)


async def test_a_staff_answer_with_equal_activity_goes_to_the_newest(chat):
    from domain.incidents import awaiting_response

    write = Writer(chat)
    ids = [(await write(f"problem {n}", T0, force_new=True)).incident.id for n in range(4)]
    assert (await awaiting_response(chat.id, None)).id == max(ids)
