"""The channel-neutral chat-room layer (handlers/chatroom.py, domain/chatroom.py) on a real database: binding
by a one-time code made with `/invite CODE express` in Telegram, bad codes, intake and threading, `/status`
and `/new`, the unbound inbox, priority and rating buttons with Telegram's access rules, garbage data."""

import re
from datetime import timedelta

import pytest

from bot.settings import load_settings
from domain import people
from domain.identities import person_for
from domain.models import Conversation, Incident, IncidentMessage, Invitation, Outbox, UnboundMessage
from handlers.chatroom import PRIORITY, RATE, ChatRoom, RoomMessage, RoomPress, action, parse_action
from locales import t
from tests.conftest import Desk, make_env
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer, lead

BOT_ID = "6fa1d2a0-1b2c-4d5e-8f90-a1b2c3d4e5f6"
EXPRESS_ENV = {"EXPRESS_BOT_ID": BOT_ID, "EXPRESS_CTS_URL": "http://127.0.0.1:9",
               "EXPRESS_SECRET_KEY": "room-secret"}
CHAT = "0bd3c8d6-0000-4000-8000-000000000001"
OTHER_CHAT = "0bd3c8d6-0000-4000-8000-000000000002"
ANNA = "a0000000-0000-4000-8000-00000000000a"  # customers' eXpress user ids (huids)
BORIS = "b0000000-0000-4000-8000-00000000000b"
ENGINEER_HUID = "e0000000-0000-4000-8000-00000000000e"
DIALOG = "0bd3c8d6-0000-4000-8000-0000000000e1"  # the engineer's private dialog with the bot, where a link is made


@pytest.fixture
async def rdesk(stub, db):
    from tests.clock import FrozenClock
    clock = FrozenClock()
    settings = load_settings(make_env(stub.url, db, **EXPRESS_ENV))
    await people.ensure_leads(settings.lead_ids, clock.now())
    d = Desk(stub, settings, clock)
    d.room = ChatRoom(d.dp["desk"])
    await d.say(LEAD, lead, "/customer_add acme 8x5 Acme Corp")
    await d.say(LEAD, lead, "/customer_add beta 8x5 Beta LLC")
    yield d
    if d.bot.session._session is not None:
        await d.bot.session._session.close()


counter = iter(range(1, 10**6))


def msg(desk, text, chat=CHAT, sender=ANNA, name="Anna Petrova", reply_to=None, **extra) -> RoomMessage:
    return RoomMessage("express", chat, f"m-{next(counter)}", sender, name, text, desk.clock.now(),
                       chat_title="Acme support", reply_to=reply_to, **extra)


async def code_for(desk, customer_code="ACME", channel="express") -> str:
    await desk.say(LEAD, lead, f"/invite {customer_code} {channel}")
    answer = desk.last_reply(LEAD)
    assert answer.startswith(f"Code for {customer_code}"), answer
    return re.search(r"^([A-Za-z0-9_-]{16,64})$", answer, re.MULTILINE)[1]


async def bound_chat(desk, chat=CHAT, customer_code="ACME") -> Conversation:
    said = await desk.room.message(msg(desk, await code_for(desk, customer_code), chat=chat))
    assert said[0].text.startswith("This chat is now connected"), said
    return await Conversation.get(channel="express", ref=chat).select_related("customer")


# ---- binding --------------------------------------------------------------------------------------

async def test_a_code_from_invite_binds_the_chat_it_is_sent_in(rdesk):
    code = await code_for(rdesk)
    said = await rdesk.room.message(msg(rdesk, f"  {code} "))
    assert [s.text for s in said] == [t("en", "bind.done", code="ACME", name="Acme Corp")]
    chat = await Conversation.get(channel="express", ref=CHAT).select_related("customer")
    assert (chat.customer.code, chat.title, chat.bound_by) == ("ACME", "Acme support", (await person_for(
        "express", ANNA, rdesk.clock.now())).id)
    assert await Incident.all().count() == 0  # the code is no problem report
    invitation = await Invitation.get(kind="express")
    assert invitation.used_conversation_id == chat.id


async def test_messages_written_before_the_binding_are_counted_when_it_binds(rdesk):
    await rdesk.room.message(msg(rdesk, "hello, anyone?"))
    said = await rdesk.room.message(msg(rdesk, await code_for(rdesk)))
    assert t("en", "bind.waiting", count=1) in said[0].text


@pytest.mark.parametrize("case", ["used", "expired", "telegram", "max"])
async def test_a_bad_code_is_answered_and_binds_nothing(rdesk, case):
    from domain import invitations
    from domain.models import Customer
    if case == "used":
        code = await code_for(rdesk)
        await rdesk.room.message(msg(rdesk, code, chat=OTHER_CHAT))
        key, params = "err.invite_used", {}
    elif case == "expired":
        code = await code_for(rdesk)
        rdesk.clock.advance(invitations.VALID_FOR + timedelta(seconds=1))
        key, params = "err.invite_expired", {}
    elif case == "telegram":  # a Telegram group's invitation binds no eXpress chat
        code = await invitations.create("chat", LEAD, rdesk.clock.now(), customer=await Customer.get(code="ACME"))
        key, params = "err.invite_wrong_place_chat", {}
    else:  # a MAX chat's code is sent in MAX
        code = await invitations.create("max", LEAD, rdesk.clock.now(), customer=await Customer.get(code="ACME"))
        key, params = "chatroom.wrong_place", {"channel": "MAX"}
    said = await rdesk.room.message(msg(rdesk, code))
    assert [s.text for s in said] == [t("en", key, **params)]
    assert not await Conversation.exists(channel="express", ref=CHAT)
    assert await UnboundMessage.all().count() == 0


async def test_what_only_looks_like_a_code_is_a_message(rdesk):
    said = await rdesk.room.message(msg(rdesk, "ERR_CONNECTION_REFUSED_0x1F"))  # unbound: kept in the inbox
    assert [s.text for s in said] == [t("en", "unbound.notice")]
    assert await UnboundMessage.all().values_list("text", flat=True) == ["ERR_CONNECTION_REFUSED_0x1F"]
    await bound_chat(rdesk)
    await rdesk.room.message(msg(rdesk, "KB4023057-rollback-fails"))  # bound: a problem report
    assert await Incident.all().values_list("title", flat=True) == ["KB4023057-rollback-fails"]


async def test_a_code_sent_in_the_bound_chat_says_so_and_opens_nothing(rdesk):
    code = await code_for(rdesk, "BETA")
    await bound_chat(rdesk)
    said = await rdesk.room.message(msg(rdesk, code))
    assert [s.text for s in said] == [t("en", "burn.shown")]
    assert await Incident.all().count() == 0
    # Every member of ACME's chat read it: burnt (tests/test_burn.py), BETA's lead makes a new one.
    assert (await Invitation.get(customer__code="BETA")).burnt_at is not None


async def test_an_express_code_does_not_bind_a_telegram_group(rdesk):
    code = await code_for(rdesk)
    await rdesk.say(GROUP, customer, f"/start {code}", chat={"id": GROUP, "type": "supergroup", "title": "G"})
    assert rdesk.last_reply(GROUP) == t("en", "chatroom.wrong_place", channel="eXpress")
    assert not await Conversation.exists(channel="telegram", ref=str(GROUP))
    assert await Invitation.get(kind="express").values_list("used_at", flat=True) is None


async def test_invite_for_a_channel_that_is_off_or_unknown_is_refused(rdesk):
    await rdesk.say(LEAD, lead, "/invite ACME max")  # MAX_BOT_TOKEN is not set here
    assert rdesk.last_reply(LEAD) == t("en", "chatroom.channel_off", channel="MAX")
    await rdesk.say(LEAD, lead, "/invite ACME whatsapp")
    assert rdesk.last_reply(LEAD) == t("en", "usage.invite")
    await rdesk.say(LEAD, lead, "/invite NOPE express")
    assert "NOPE" in rdesk.last_reply(LEAD)
    assert await Invitation.all().count() == 0


async def test_only_a_lead_makes_codes(rdesk):
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    await rdesk.say(ENGINEER, engineer, "/invite ACME express")
    assert await Invitation.all().count() == 0
    assert "Code for" not in rdesk.last_reply(ENGINEER)


# ---- the unbound inbox ----------------------------------------------------------------------------

async def test_an_unbound_chat_goes_to_the_inbox_answered_at_most_hourly(rdesk):
    first = await rdesk.room.message(msg(rdesk, "our server is down"))
    second = await rdesk.room.message(msg(rdesk, "still down", sender=BORIS, name="Boris"))
    assert [s.text for s in first] == [t("en", "unbound.notice")]
    assert second == []
    kept = await UnboundMessage.all().order_by("id").values_list("text", "author", "conversation__channel")
    assert kept == [("our server is down", "Anna Petrova", "express"), ("still down", "Boris", "express")]
    assert await Incident.all().count() == 0
    await rdesk.say(LEAD, lead, "/unbound")
    assert "our server is down" in rdesk.last_reply(LEAD)


# ---- intake ---------------------------------------------------------------------------------------

async def test_a_message_opens_an_incident_acknowledged_in_the_chat_and_pinged(rdesk):
    chat = await bound_chat(rdesk)
    first = msg(rdesk, "Mail is down for everyone\nsince 9:00", attachments=[{"kind": "document", "name": "log.txt"}])
    assert await rdesk.room.message(first) == []
    incident = await Incident.get(key="ACME-1")
    assert (incident.conversation_id, incident.title) == (chat.id, "Mail is down for everyone")
    stored = await IncidentMessage.get(incident=incident)
    assert (stored.ref, stored.author, stored.attachments) == (first.ref, "Anna Petrova", [{"kind": "document",
                                                                                            "name": "log.txt"}])
    ack = await Outbox.get(kind="ack")
    assert (ack.channel, ack.conversation_id, ack.params["reply_to"]) == ("express", chat.id, first.ref)
    assert await Outbox.filter(kind="new", channel="telegram").exists()  # the on-call engineer's ping


async def test_threading_follows_replies_and_new_always_opens_one(rdesk):
    await bound_chat(rdesk)
    first = msg(rdesk, "VPN fails")
    await rdesk.room.message(first)
    rdesk.clock.advance(timedelta(hours=5))  # past THREAD_WINDOW: only a reply joins it
    await rdesk.room.message(msg(rdesk, "and it still fails", reply_to=first.ref))
    assert await Incident.all().count() == 1
    await rdesk.room.message(msg(rdesk, "/new Printer on fire"))
    assert [i.title for i in await Incident.all().order_by("id")] == ["VPN fails", "Printer on fire"]
    said = await rdesk.room.message(msg(rdesk, "/new"))
    assert [s.text for s in said] == [t("en", "usage.new")]
    assert await Incident.all().count() == 2
    again = await rdesk.room.message(first)  # the server sent the same message twice
    assert again == [] and await IncidentMessage.filter(ref=first.ref).count() == 1


async def test_status_lists_the_chats_open_incidents(rdesk):
    await bound_chat(rdesk)
    said = await rdesk.room.message(msg(rdesk, "/status"))
    assert [s.text for s in said] == [t("en", "status.none")]
    await rdesk.room.message(msg(rdesk, "Disk full"))
    said = await rdesk.room.message(msg(rdesk, "/status"))
    assert said[0].text.startswith(t("en", "status.header")) and "ACME-1" in said[0].text
    assert "Disk full" in said[0].text
    assert await Incident.all().count() == 1  # /status is no problem report
    said = await rdesk.room.message(msg(rdesk, "/help"))
    assert [s.text for s in said] == [t("en", "chatroom.help", new="/new", status="/status")]


async def test_a_linked_staff_member_answering_in_the_chat_is_the_response(rdesk):
    await bound_chat(rdesk)
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    staff_person = await person_for("telegram", ENGINEER, rdesk.clock.now())
    from domain.models import Identity
    await Identity.create(channel="express", ref=ENGINEER_HUID, person=staff_person)
    first = msg(rdesk, "Help!")
    await rdesk.room.message(first)
    rdesk.clock.advance(timedelta(minutes=3))
    await rdesk.room.message(msg(rdesk, "Looking into it", sender=ENGINEER_HUID, name="Boris", reply_to=first.ref))
    incident = await Incident.get(key="ACME-1")
    assert (incident.responded_by, incident.status) == (ENGINEER, "in_progress")
    assert await Incident.all().count() == 1  # staff words open nothing


# ---- buttons --------------------------------------------------------------------------------------

def press(desk, data, sender=ANNA, chat=CHAT) -> RoomPress:
    return RoomPress("express", chat, sender, "someone", data)


async def test_the_reporter_changes_the_priority_another_customer_may_not(rdesk):
    await bound_chat(rdesk)
    await rdesk.room.message(msg(rdesk, "Slow reports"))
    incident = await Incident.get(key="ACME-1")
    said = await rdesk.room.press(press(rdesk, action(PRIORITY, incident.id, "P4"), sender=BORIS))
    assert [s.text for s in said] == [t("en", "err.not_your_button")]
    assert (await Incident.get(id=incident.id)).priority == incident.priority
    said = await rdesk.room.press(press(rdesk, action(PRIORITY, incident.id, "P1")))
    assert said[0].text.startswith(t("en", "priority.changed_chat", key="ACME-1", priority="P1",
                                     meaning=t("en", "priority.P1")))
    assert (await Incident.get(id=incident.id)).priority == "P1"


async def test_a_button_pressed_in_another_chat_is_stale(rdesk):
    await bound_chat(rdesk)
    await bound_chat(rdesk, chat=OTHER_CHAT, customer_code="BETA")
    await rdesk.room.message(msg(rdesk, "Slow reports"))
    incident = await Incident.get(key="ACME-1")
    said = await rdesk.room.press(press(rdesk, action(PRIORITY, incident.id, "P1"), chat=OTHER_CHAT))
    assert [s.text for s in said] == [t("en", "err.button_stale")]
    said = await rdesk.room.press(press(rdesk, action(PRIORITY, incident.id, "P1"), chat="not-a-chat"))
    assert [s.text for s in said] == [t("en", "err.button_stale")]
    assert (await Incident.get(id=incident.id)).priority == incident.priority


@pytest.mark.parametrize("data", ["", "dd:prio:1:P9", "dd:rate:1:6", "dd:rate:1:0", "dd:prio:x:P1", "prio:1:P1",
                                  "dd:take:1:1", "dd:prio:1:P1:extra", "dd:prio:99999999999999999999:P1", "☃" * 300])
async def test_garbage_button_data_is_answered_and_changes_nothing(rdesk, data):
    await bound_chat(rdesk)
    await rdesk.room.message(msg(rdesk, "Slow reports"))
    before = await Incident.get(key="ACME-1")
    assert parse_action(data) is None
    said = await rdesk.room.press(press(rdesk, data))
    assert [s.text for s in said] == [t("en", "err.bad_button")]
    after = await Incident.get(key="ACME-1")
    assert (after.priority, after.rating) == (before.priority, before.rating)


async def test_the_rating_after_resolve_once_by_a_customer_never_by_staff(rdesk):
    await bound_chat(rdesk)
    await rdesk.room.message(msg(rdesk, "Broken login"))
    incident = await Incident.get(key="ACME-1")
    said = await rdesk.room.press(press(rdesk, action(RATE, incident.id, 5)))
    assert [s.text for s in said] == [t("en", "err.rate_when_resolved", key="ACME-1")]
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    await rdesk.say(ENGINEER, engineer, "/resolve ACME-1 fixed")  # the Telegram command, as staff use it
    prompt = await Outbox.get(kind="customer", channel="express")
    chat = await Conversation.get(channel="express", ref=CHAT)
    assert (prompt.conversation_id, prompt.params["say"], prompt.params["buttons"]) == (chat.id, "resolve.customer", "rating")
    staff_person = await person_for("telegram", ENGINEER, rdesk.clock.now())
    from domain.models import Identity
    await Identity.create(channel="express", ref=ENGINEER_HUID, person=staff_person)
    said = await rdesk.room.press(press(rdesk, action(RATE, incident.id, 1), sender=ENGINEER_HUID))
    assert [s.text for s in said] == [t("en", "err.staff_cannot_rate")]
    said = await rdesk.room.press(press(rdesk, action(RATE, incident.id, 4)))
    assert [s.text for s in said] == [t("en", "rating.thanks", key="ACME-1", stars=4)]
    said = await rdesk.room.press(press(rdesk, action(RATE, incident.id, 1), sender=BORIS))
    assert [s.text for s in said] == [t("en", "err.already_rated", key="ACME-1")]
    assert (await Incident.get(id=incident.id)).rating == 4


# ---- staff link their account -----------------------------------------------------------------------

async def link_code(desk, user=engineer, chat=ENGINEER) -> str:
    await desk.say(chat, user, "/link express")
    answer = desk.last_reply(chat)
    assert answer.startswith("Your code to link your eXpress account"), answer
    return re.search(r"^([A-Za-z0-9_-]{16,64})$", answer, re.MULTILINE)[1]


async def test_a_staff_member_links_their_account_and_answers_in_the_chat(rdesk):
    await bound_chat(rdesk)
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    code = await link_code(rdesk)
    said = await rdesk.room.message(msg(rdesk, code, chat=DIALOG, sender=ENGINEER_HUID, name="Boris", private=True))
    name = (await person_for("telegram", ENGINEER, rdesk.clock.now())).full_name
    assert [s.text for s in said] == [t("en", "chatroom.linked", channel="eXpress", name=name)]
    assert (await person_for("express", ENGINEER_HUID, rdesk.clock.now())).id == ENGINEER
    assert await Incident.all().count() == 0  # the code is no problem report
    first = msg(rdesk, "Help!")
    await rdesk.room.message(first)
    await rdesk.room.message(msg(rdesk, "On it", sender=ENGINEER_HUID, name="Boris", reply_to=first.ref))
    incident = await Incident.get(key="ACME-1")
    assert (incident.responded_by, incident.status) == (ENGINEER, "in_progress")
    said = await rdesk.room.message(msg(rdesk, code, sender=BORIS))  # used: it links nobody else
    assert [s.text for s in said] == [t("en", "err.invite_used")]
    assert (await person_for("express", BORIS, rdesk.clock.now())).id != ENGINEER


async def test_a_link_code_of_someone_who_left_links_nothing(rdesk):
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    code = await link_code(rdesk)
    await people.remove_staff(str(ENGINEER), rdesk.settings.lead_ids, rdesk.clock.now())
    said = await rdesk.room.message(msg(rdesk, code, chat=DIALOG, sender=ENGINEER_HUID, private=True))
    assert [s.text for s in said] == [t("en", "chatroom.link_not_staff")]
    assert (await person_for("express", ENGINEER_HUID, rdesk.clock.now())).id != ENGINEER
    assert (await Invitation.get(kind="link")).used_at is None


async def test_link_is_for_staff_in_private_and_its_code_is_for_express_only(rdesk):
    await rdesk.say(GROUP, customer, "/link express")
    assert await Invitation.all().count() == 0
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    await rdesk.say(ENGINEER, engineer, "/link telegram")
    assert rdesk.last_reply(ENGINEER) == t("en", "usage.link")
    await rdesk.say(ENGINEER, engineer, "/link max")
    assert rdesk.last_reply(ENGINEER) == t("en", "chatroom.channel_off", channel="MAX")
    code = await link_code(rdesk)
    await rdesk.say(ENGINEER, engineer, f"/start {code}")  # a link code is no staff invitation
    assert rdesk.last_reply(ENGINEER) == t("en", "chatroom.wrong_place", channel="eXpress")
    assert (await Invitation.get(kind="link")).used_at is None
