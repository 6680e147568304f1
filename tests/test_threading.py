"""Threading rules of intake on a real database, one rule and one boundary at a time."""

from datetime import UTC, datetime, timedelta

import pytest

from domain import customers
from domain.intake import Windows, record_bot_message, record_customer_message
from domain.models import Conversation, Incident, IncidentEvent, IncidentMessage
from domain.policy import load_policy
from domain.sla import Sla
from tests.channels import chat_of, telegram_message, tg, tg_conversation

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

    async def __call__(self, text, at, reply_to=None, thread_id=None, force_new=False, message_id=None,
                       sent_at=None, author="Client", attachments=()):
        message_id = message_id or self.next_id
        self.next_id = max(self.next_id, message_id) + 1
        msg = telegram_message(chat_id=int(self.chat.ref), message_id=message_id, user_id=7, author=author, text=text,
                               attachments=list(attachments), sent_at=sent_at or at, reply_to=reply_to,
                               thread_id=thread_id)
        # `force_new` only when set, as a plain message arrives: the default must be "thread it".
        extra = {"force_new": True} if force_new else {}
        result = await record_customer_message(msg, self.chat, SLA, WINDOWS, at, **extra)
        return result


async def test_window_boundaries(chat):
    write = Writer(chat)
    first = await write("one", T0)
    assert first.created and first.incident.key == "ACME-1"
    same = await write("two", T0 + WINDOWS.thread)  # activity moves to T0+4h
    assert not same.created and same.incident.key == "ACME-1"
    assert not same.reopened and (await Incident.get(key="ACME-1")).status == "new"  # a follow-up reopens nothing
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
    assert reply.incident.key == "ACME-1" and not reply.reopened
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


async def test_the_bots_message_is_recorded_only_in_its_incidents_own_conversation(chat):
    # Sent to another chat (a rerouted copy, a chat that moved meanwhile), or for an incident gone: not
    # threaded, so a reply there cannot land in this incident.
    first = await Writer(chat)("problem", T0)
    await customers.bind_by_code("ACME", "telegram", "-100901", "Other", "supergroup", 1, T0)
    await record_bot_message(first.incident.id, "telegram", "-100901", "5001", "ack", T0)
    await record_bot_message(first.incident.id, "email", str(CHAT), "5002", "ack", T0)
    await record_bot_message(first.incident.id + 1, "telegram", str(CHAT), "5003", "ack", T0)
    assert not await IncidentMessage.filter(source="bot").exists()
    await record_bot_message(first.incident.id, "telegram", str(CHAT), "5004", "ack", T0)
    assert await IncidentMessage.filter(source="bot").values_list("incident_id", "conversation_id", "ref") == [
        (first.incident.id, chat.id, "5004")]


async def test_forum_topics(chat):
    write = Writer(chat)
    a = await write("topic a", T0, thread_id=1)
    b = await write("topic b", T0 + timedelta(minutes=1), thread_id=2)
    assert (a.incident.key, b.incident.key) == ("ACME-1", "ACME-2")
    # Days later, the topic's open incident still takes the message; the general chat does not.
    in_a = await write("topic a again", T0 + timedelta(days=3), thread_id=1)
    assert in_a.incident.key == "ACME-1" and not in_a.reopened
    general = await write("general chat", T0 + timedelta(days=3, minutes=1))
    assert general.created


async def test_reopen_window_boundaries(chat):
    write = Writer(chat)
    first = await write("problem", T0, message_id=1)
    await Incident.filter(id=first.incident.id).update(status="resolved", resolved_at=T0)
    reopened = await write("again", T0 + WINDOWS.reopen, reply_to=1)
    assert reopened.reopened and reopened.incident.status == "in_progress"
    row = await Incident.get(id=first.incident.id)
    assert (row.status, row.resolved_at, row.last_activity_at) == ("in_progress", None, T0 + WINDOWS.reopen)
    event = await IncidentEvent.get(incident_id=row.id, kind="reopened")
    assert (event.at, event.actor_id, event.data) == (T0 + WINDOWS.reopen, 7, {"by_reply": True})
    await Incident.filter(id=first.incident.id).update(status="resolved", resolved_at=T0)
    late = await write("much later", T0 + WINDOWS.reopen + timedelta(seconds=1), reply_to=1)
    assert late.created and (await Incident.get(id=first.incident.id)).status == "closed"


async def test_priority_and_title(chat):
    write = Writer(chat)
    result = await write("\n\n  Everything is DOWN since 9:00\nsecond line", T0)
    assert result.incident.priority == "P1" and result.incident.title == "Everything is DOWN since 9:00"
    question = await write("A question about reports", T0, force_new=True)
    assert question.incident.priority == "P4" and question.created and not question.reopened


async def test_duplicate_message(chat):
    write = Writer(chat)
    await write("problem", T0, message_id=42)
    again = await write("problem", T0, message_id=42)
    assert again.duplicate and await Incident.all().count() == 1


async def test_resolved_incidents_close_after_the_reopen_window(chat):
    from domain.intake import close_expired

    write = Writer(chat)
    first = await write("problem", T0)
    await Incident.filter(id=first.incident.id).update(status="resolved", resolved_at=T0)
    assert await close_expired(T0 + WINDOWS.reopen - timedelta(seconds=1), WINDOWS.reopen) == 0
    assert await close_expired(T0 + WINDOWS.reopen, WINDOWS.reopen) == 1
    incident = await Incident.get(id=first.incident.id)
    assert incident.status == "closed" and await IncidentEvent.exists(incident=incident, kind="closed")
    assert incident.closed_at == T0 + WINDOWS.reopen
    assert await close_expired(T0 + 2 * WINDOWS.reopen, WINDOWS.reopen) == 0  # closed ones are not picked again


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
    assert reply.created and reply.incident.key == "ACME-3" and not reply.reopened
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


# What a new incident holds, beyond its key (mutation run survivors: nothing read these back).

async def test_a_new_incident_holds_its_deadline_first_ping_and_who_opened_it(chat):
    write = Writer(chat)
    written = T0 - timedelta(minutes=2)  # the customer wrote it two minutes before it reached the desk
    result = await write("Portal is down\nsince the update", T0, sent_at=written)
    incident = await Incident.get(id=result.incident.id)
    # 8x5: Monday 11:58 in Moscow, one working hour to react; the reminder 15 minutes before that.
    assert (incident.opened_at, incident.deadline, incident.next_due_at) == (
        written, written + timedelta(hours=1), written + timedelta(minutes=45))
    assert (incident.plan, incident.priority, incident.status, incident.title) == ("8x5", "P1", "new", "Portal is down")
    assert (await chat_of(incident), incident.topic, incident.reporter_id) == (CHAT, None, 7)
    assert (incident.last_activity_at, incident.contract_expired) == (T0, False)
    opened = await IncidentEvent.get(incident_id=incident.id, kind="opened")
    assert (opened.at, opened.actor_id, opened.data) == (T0, 7, {"priority": "P1", "expired": False})
    stored = await IncidentMessage.get(incident_id=incident.id)
    assert (stored.conversation_id, stored.ref, stored.author_id, stored.author, stored.source, stored.sent_at) == (
        chat.id, "1", 7, "Client", "customer", written)


@pytest.mark.parametrize(("contract_until", "expired"), [("2026-03-01", True), ("2026-03-02", False)])
async def test_a_contract_is_expired_only_after_its_last_day(chat, contract_until, expired):
    await customers.set_field("ACME", "contract_until", contract_until, SLA, T0)
    result = await Writer(chat)("problem", T0)  # T0 is 2 March
    assert (await Incident.get(id=result.incident.id)).contract_expired is expired
    assert (await IncidentEvent.get(incident_id=result.incident.id, kind="opened")).data["expired"] is expired


@pytest.mark.parametrize(("text", "attachments", "title"), [
    ("", [{"kind": "photo", "file_id": "p"}, {"kind": "document", "file_id": "d"}], "[photo, document]"),
    (" \n ", [], "[…]"),  # a contact or a location: nothing to quote
])
async def test_a_title_without_text_names_what_was_sent(chat, text, attachments, title):
    result = await Writer(chat)(text, T0, attachments=attachments)
    assert (await Incident.get(id=result.incident.id)).title == title


async def test_a_long_author_name_is_cut_to_the_column(chat):
    await Writer(chat)("problem", T0, author="A" * 300)
    assert (await IncidentMessage.get(source="customer")).author == "A" * 256


async def test_another_chat_of_the_same_customer_opens_its_own_incident(chat):
    other = await customers.bind_by_code("ACME", "telegram", str(CHAT - 1), "Acme 2", "supergroup", 1, T0)
    first = await Writer(chat)("problem here", T0)
    there = await Writer(other)("problem there", T0 + timedelta(minutes=1))
    assert there.created and there.incident.key == "ACME-2" and there.incident.conversation_id == other.id
    assert (await Incident.get(id=first.incident.id)).last_activity_at == T0


async def test_a_chat_bound_to_another_customer_starts_afresh(chat):
    old = await Writer(chat)("problem", T0, message_id=1)
    await customers.unbind("telegram", str(CHAT))
    await customers.add_customer("BETA", "8x5", "Beta", T0)
    rebound = await customers.bind_by_code("BETA", "telegram", str(CHAT), "Beta", "supergroup", 1, T0)
    write = Writer(rebound)
    plain = await write("a message within the window", T0 + timedelta(minutes=1), message_id=2)
    assert plain.created and plain.incident.key == "BETA-1"
    reply = await write("a reply to the old customer's message", T0 + timedelta(minutes=2), reply_to=1, message_id=3)
    assert reply.incident.key == "BETA-1"  # not ACME's incident: it continues BETA-1 by the window
    acme = await Incident.get(id=old.incident.id)
    assert (acme.status, acme.last_activity_at) == ("new", T0)
    assert await IncidentMessage.filter(incident_id=acme.id).count() == 1


async def test_closing_touches_only_the_resolved_incident_it_names(chat):
    from domain.intake import close, close_expired

    write = Writer(chat)
    ids = [(await write(f"problem {n}", T0, force_new=True)).incident.id for n in range(3)]
    old, recent, reopened = ids
    await Incident.filter(id=old).update(status="resolved", resolved_at=T0)
    await Incident.filter(id=recent).update(status="resolved", resolved_at=T0 + timedelta(hours=1))
    stale = await Incident.get(id=reopened)  # read as resolved by the tick, then a reply reopened it
    await Incident.filter(id=reopened).update(status="in_progress", resolved_at=None)
    assert await close_expired(T0 + WINDOWS.reopen, WINDOWS.reopen) == 1
    await close(stale, T0 + WINDOWS.reopen)
    statuses = dict(await Incident.all().values_list("id", "status"))
    assert statuses == {old: "closed", recent: "resolved", reopened: "in_progress"}
    assert await IncidentEvent.filter(kind="closed").values_list("incident_id", flat=True) == [old]


async def test_the_bots_message_is_kept_once_and_only_in_the_incidents_chat(chat):
    first = await Writer(chat)("problem", T0)
    await record_bot_message(first.incident.id, "telegram", str(CHAT), "5000", "ACME-1 received",
                             T0 + timedelta(seconds=1))
    await record_bot_message(first.incident.id, "telegram", str(CHAT), "5000", "ACME-1 received",
                             T0 + timedelta(seconds=2))  # a retry
    await tg_conversation(CHAT - 1)
    await record_bot_message(first.incident.id, "telegram", str(CHAT - 1), "5001", "elsewhere", T0)
    rows = await IncidentMessage.filter(source="bot").values_list("conversation__ref", "ref", "text", "sent_at")
    assert rows == [(str(CHAT), "5000", "ACME-1 received", T0 + timedelta(seconds=1))]


async def test_the_first_customer_message_is_the_customers_not_the_bots(chat):
    from domain.intake import first_customer_message

    incident = (await Writer(chat)("placeholder", T0, message_id=1)).incident
    await IncidentMessage.filter(incident_id=incident.id).delete()  # rows in id order: the bot's, then the customer's
    await record_bot_message(incident.id, "telegram", str(CHAT), "10", "the bot spoke first", T0)
    await IncidentMessage.create(incident=incident, conversation=chat, ref="11", source="customer", text="problem",
                                 sent_at=T0)
    assert (await first_customer_message(incident.id)).ref == "11"


async def test_editing_the_opening_message_rewrites_the_title_and_only_that(chat):
    from domain.intake import record_edit

    write = Writer(chat)
    incident = (await write("hello", T0, message_id=1)).incident
    await write("are you there?", T0 + timedelta(minutes=1), message_id=2)
    later = T0 + timedelta(minutes=2)
    assert await record_edit("telegram", str(CHAT), "1", "\nExport fails with error 500\ndetails below", later)
    assert (await Incident.get(id=incident.id)).title == "Export fails with error 500"
    assert await record_edit("telegram", str(CHAT), "2", "a later message edited", later)  # not the opening one: title stays
    assert await record_edit("telegram", str(CHAT), "1", "   ", later)  # nothing to title with: title stays
    assert (await Incident.get(id=incident.id)).title == "Export fails with error 500"
