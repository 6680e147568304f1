"""Intake and the incident lifecycle through the real Dispatcher: what customers and staff see and what is kept."""

import asyncio
from datetime import date, timedelta

import pytest

from domain import customers
from domain.models import Conversation, Incident, IncidentEvent, IncidentMessage, UnboundMessage
from tests import fixtures
from tests.channels import tg
from tests.people import ENGINEER, GROUP, LEAD, OTHER_GROUP, STRANGER, customer, customer_2, engineer, lead, stranger

acme = fixtures.acme  # its fixture


def bot_replies(desk, chat, since=0):
    return [c.params for c in desk.stub.find("sendMessage", since) if int(c.params["chat_id"]) == chat]


async def test_first_message_opens_an_incident_and_is_acknowledged(acme):
    message = await acme.say(GROUP, customer, "Сервер упал, никто не может войти")
    ack = bot_replies(acme, GROUP)[-1]
    assert "ACME-1" in ack["text"] and "P1" in ack["text"]
    assert ack["reply_parameters"]["message_id"] == message["message_id"]
    buttons = [b["text"] for row in ack["reply_markup"]["inline_keyboard"] for b in row]
    # Each button says what its priority means (the group speaks the default language, English here).
    assert buttons == ["P1 · down for everyone", "P2 · key feature broken", "P3 · workaround exists", "P4 · a question"]
    incident = await Incident.get(key="ACME-1")
    assert (incident.status, incident.priority, incident.reporter_id) == ("new", "P1", customer["id"])
    assert await IncidentEvent.filter(incident=incident, kind="opened").count() == 1


@pytest.mark.parametrize(("text", "priority"), [
    ("Всё недоступно", "P1"), ("The portal is DOWN", "P1"), ("Ошибка при выгрузке", "P2"),
    ("export fails", "P2"), ("Подскажите, как настроить отчёт", "P4"), ("How to add a user?", "P4"),
    ("Отчёт считается медленно", "P3"), ("🙂🙂🙂", "P3"),
])
async def test_priority_from_keywords(acme, text, priority):
    await acme.say(GROUP, customer, text)
    assert (await Incident.get(key="ACME-1")).priority == priority


async def test_follow_up_joins_and_reply_joins_its_incident_and_new_splits(acme):
    first = await acme.say(GROUP, customer, "Problem one")
    mark = acme.stub.mark()
    await acme.say(GROUP, customer, "more details")  # within THREAD_WINDOW: joins ACME-1 silently
    assert bot_replies(acme, GROUP, mark) == []
    await acme.say(GROUP, customer, "/new Problem two")
    assert "ACME-2" in bot_replies(acme, GROUP)[-1]["text"]
    acme.clock.advance(timedelta(minutes=1))  # the reply comes later: at an equal moment the newest would win
    await acme.say(GROUP, customer_2, "about the first one", reply_to_message=first)
    one = await Incident.get(key="ACME-1")
    assert await IncidentMessage.filter(incident=one, source="customer").count() == 3
    acme.clock.advance(timedelta(seconds=1))
    await acme.say(GROUP, customer, "and the second")  # most recent activity: ACME-1 (the reply above)
    assert await IncidentMessage.filter(incident=one, source="customer").count() == 4


async def test_reply_to_the_bots_acknowledgement_joins(acme):
    await acme.say(GROUP, customer, "Problem one")
    await acme.say(GROUP, customer, "/new Problem two")
    ack_one = bot_replies(acme, GROUP)[0]
    bot_message = {"message_id": acme.stub.message_ids.__next__() - 1, "date": 0, "chat": acme.stub.chats[GROUP]}
    row = await IncidentMessage.get(source="bot", incident__key="ACME-1")
    bot_message["message_id"] = int(row.ref)
    await acme.say(GROUP, customer, "replying to the bot", reply_to_message=bot_message)
    assert await IncidentMessage.filter(incident__key="ACME-1", source="customer").count() == 2
    assert "ACME-1" in ack_one["text"]


async def test_thread_window_boundary(acme):
    await acme.say(GROUP, customer, "Problem one")
    acme.clock.advance(acme.settings.thread_window)
    await acme.say(GROUP, customer, "exactly at the window: still the same incident")
    acme.clock.advance(acme.settings.thread_window + timedelta(seconds=1))
    await acme.say(GROUP, customer, "after the window: a new incident")
    assert await Incident.filter(customer__code="ACME").count() == 2


async def test_forum_topics_thread_separately(acme):
    acme.stub.chat(GROUP, "Acme", forum=True)
    await acme.say(GROUP, customer, "topic A problem", message_thread_id=11, is_topic_message=True)
    await acme.say(GROUP, customer, "topic B problem", message_thread_id=22, is_topic_message=True)
    acme.clock.advance(timedelta(hours=10))  # beyond THREAD_WINDOW: the topic still holds its incident
    await acme.say(GROUP, customer, "topic A again", message_thread_id=11, is_topic_message=True)
    a = await Incident.get(topic="11")
    assert await IncidentMessage.filter(incident=a, source="customer").count() == 2
    assert await Incident.filter(customer__code="ACME").count() == 2


async def test_attachments_without_text_are_kept(acme):
    photo = [{"file_id": "small", "file_unique_id": "s", "width": 1, "height": 1},
             {"file_id": "big", "file_unique_id": "b", "width": 9, "height": 9}]
    await acme.say(GROUP, customer, None, photo=photo)
    await acme.say(GROUP, customer, None, document={"file_id": "doc1", "file_unique_id": "d1"}, caption="logs")
    await acme.say(GROUP, customer, None, voice={"file_id": "v1", "file_unique_id": "v1", "duration": 3})
    await acme.say(GROUP, customer, None, sticker={"file_id": "st1", "file_unique_id": "st1", "type": "regular",
                                                   "width": 1, "height": 1, "is_animated": False, "is_video": False})
    await acme.say(GROUP, customer, None, video={"file_id": "vid1", "file_unique_id": "vid1", "width": 1,
                                                 "height": 1, "duration": 1})
    rows = await IncidentMessage.filter(source="customer").order_by("id")
    assert [r.attachments[0] for r in rows] == [
        {"kind": "photo", "file_id": "big"}, {"kind": "document", "file_id": "doc1"},
        {"kind": "voice", "file_id": "v1"}, {"kind": "sticker", "file_id": "st1"},
        {"kind": "video", "file_id": "vid1"}]
    assert rows[1].text == "logs"
    assert (await Incident.get(key="ACME-1")).title == "[photo]"


async def test_long_text_is_kept_whole(acme):
    text = "ошибка " + "x" * 4089
    await acme.say(GROUP, customer, text)
    assert (await IncidentMessage.get(source="customer")).text == text


async def test_same_update_twice_changes_nothing(acme):
    message = acme.stub.make_message(GROUP, customer, "Problem", date=int(acme.clock.now().timestamp()))
    await acme.feed({"message": message})
    mark = acme.stub.mark()
    await acme.feed({"message": message})
    assert bot_replies(acme, GROUP, mark) == []
    assert await IncidentMessage.filter(source="customer").count() == 1
    assert await Incident.all().count() == 1


async def test_edit_updates_stored_text_and_unknown_edit_is_ignored(acme):
    message = await acme.say(GROUP, customer, "Problm")
    await acme.feed({"edited_message": {**message, "text": "Problem", "edit_date": message["date"] + 5}})
    assert (await IncidentMessage.get(source="customer")).text == "Problem"
    stray = acme.stub.make_message(GROUP, customer, "never seen")
    await acme.feed({"edited_message": {**stray, "edit_date": stray["date"]}})
    assert await IncidentMessage.filter(source="customer").count() == 1


async def test_staff_message_is_the_first_response(acme):
    await acme.say(GROUP, customer, "Problem")
    acme.clock.advance(timedelta(minutes=7))
    await acme.say(GROUP, engineer, "Looking into it")
    incident = await Incident.get(key="ACME-1")
    assert incident.status == "in_progress" and incident.assignee_id == ENGINEER
    assert incident.responded_at - incident.opened_at == timedelta(minutes=7)
    assert await IncidentMessage.filter(incident=incident, source="staff").count() == 1


async def test_take_in_the_customer_chat_answers_the_customer(acme):
    await acme.say(GROUP, customer, "Problem")
    mark = acme.stub.mark()
    await acme.say(GROUP, engineer, "/take")
    answers = [c.params["text"] for c in acme.stub.find("sendMessage", mark)]
    assert answers == ["ACME-1: an engineer is on it."]  # once, and addressed to the customer
    assert (await Incident.get(key="ACME-1")).assignee_id == ENGINEER


async def test_take_resolve_rate_and_reopen_by_reply(acme):
    await acme.say(GROUP, customer, "Problem")
    await acme.say(ENGINEER, engineer, "/take ACME-1")
    assert "ACME-1 is yours" in acme.last_reply(ENGINEER)
    assert "an engineer is on it" in acme.last_reply(GROUP)
    await acme.say(LEAD, lead, "/take ACME-1")
    assert "already taken by User2002 (@eng_boris)" in acme.last_reply(LEAD)

    await acme.say(GROUP, engineer, "/resolve Restarted the service")
    resolved_note = bot_replies(acme, GROUP)[-1]
    assert "ACME-1 is resolved" in resolved_note["text"] and "Restarted the service" in resolved_note["text"]
    stars = resolved_note["reply_markup"]["inline_keyboard"][0]
    assert len(stars) == 5
    resolved_message = {"message_id": 1, "date": 0, "chat": acme.stub.chats[GROUP], "text": "x"}
    await acme.press(resolved_message, customer, stars[3]["callback_data"])
    assert (await Incident.get(key="ACME-1")).rating == 4
    await acme.press(resolved_message, customer, stars[0]["callback_data"])
    assert (await Incident.get(key="ACME-1")).rating == 4  # once per incident
    await acme.press(resolved_message, engineer, stars[4]["callback_data"])
    assert (await Incident.get(key="ACME-1")).rating == 4

    first = await IncidentMessage.filter(source="customer").first()
    original = {"message_id": int(first.ref), "date": 0, "chat": acme.stub.chats[GROUP]}
    acme.clock.advance(timedelta(hours=1))
    await acme.say(GROUP, customer, "It is broken again", reply_to_message=original)
    incident = await Incident.get(key="ACME-1")
    assert incident.status == "in_progress" and "reopened" in acme.last_reply(GROUP)
    kinds = await IncidentEvent.filter(incident=incident).order_by("id").values_list("kind", flat=True)
    assert kinds == ["opened", "responded", "taken", "resolved", "rated", "reopened"]


async def test_reply_after_the_reopen_window_opens_a_new_incident(acme):
    first = await acme.say(GROUP, customer, "Problem")
    await acme.say(GROUP, engineer, "/resolve done")
    acme.clock.advance(acme.settings.reopen_window + timedelta(minutes=1))
    await acme.say(GROUP, customer, "again", reply_to_message=first)
    old = await Incident.get(key="ACME-1")
    assert old.status == "closed" and old.closed_at == acme.clock.now()
    assert await Incident.exists(key="ACME-2")


async def test_priority_buttons(acme):
    await acme.say(GROUP, customer, "Problem")
    ack = bot_replies(acme, GROUP)[-1]
    data = {b["text"][:2]: b["callback_data"] for row in ack["reply_markup"]["inline_keyboard"] for b in row}
    ack_message = {"message_id": 5, "date": 0, "chat": acme.stub.chats[GROUP], "text": ack["text"]}
    await acme.press(ack_message, customer, data["P1"])
    assert (await Incident.get(key="ACME-1")).priority == "P1"
    await acme.press(ack_message, customer_2, data["P4"])  # not the reporter, not staff
    assert (await Incident.get(key="ACME-1")).priority == "P1"
    alert = acme.stub.find("answerCallbackQuery")[-1].params
    assert "Only the person who reported" in alert["text"]
    await acme.press(ack_message, engineer, data["P2"])
    assert (await Incident.get(key="ACME-1")).priority == "P2"


@pytest.mark.parametrize("data", ["prio:abc:P1", "prio:999:P1", "prio:1:P9", "rate:1:9", "nonsense", "x" * 64])
async def test_garbage_callback_data_changes_nothing(acme, data):
    await acme.say(GROUP, customer, "Problem")
    ack_message = {"message_id": 5, "date": 0, "chat": acme.stub.chats[GROUP], "text": "x"}
    await acme.press(ack_message, customer, data)
    incident = await Incident.get(key="ACME-1")
    assert (incident.priority, incident.rating) == ("P3", None)
    assert acme.stub.find("answerCallbackQuery")[-1].params.get("show_alert") in (True, "true")


async def test_status_incidents_my_card_note_assign(acme):
    await acme.say(GROUP, customer, "Problem one")
    await acme.say(GROUP, customer, "/new Outage: everything is down")
    await acme.say(GROUP, customer, "/status")
    status = acme.last_reply(GROUP)
    assert status.index("ACME-2") < status.index("ACME-1")  # P1 first
    await acme.say(ENGINEER, engineer, "/note ACME-1 customer uses the old build")
    await acme.say(ENGINEER, engineer, "/assign ACME-1 @eng_boris")
    await acme.say(ENGINEER, engineer, "/my")
    assert "ACME-1" in acme.last_reply(ENGINEER) and "ACME-2" not in acme.last_reply(ENGINEER)
    await acme.say(ENGINEER, engineer, "/incidents ACME")
    assert "ACME-2" in acme.last_reply(ENGINEER)
    await acme.say(ENGINEER, engineer, "/incident ACME-1")
    card = acme.last_reply(ENGINEER)
    assert "note: customer uses the old build" in card and "Problem one" in card
    texts = [c.params.get("text", "") for c in acme.stub.find("sendMessage") if int(c.params["chat_id"]) == GROUP]
    assert not any("old build" in text for text in texts)  # notes never reach the customer


@pytest.mark.parametrize(("chat", "user", "command", "expected"), [
    (ENGINEER, engineer, "/take NOPE-9", "No incident NOPE-9."),
    (ENGINEER, engineer, "/take", "No open incident here: give the KEY."),
    (ENGINEER, engineer, "/priority ACME-1 P7", "Unknown priority “P7”: use P1, P2, P3 or P4."),
    (ENGINEER, engineer, "/priority ACME-1", "Usage: /priority [KEY] P1|P2|P3|P4"),
    (ENGINEER, engineer, "/reopen ACME-1", "ACME-1 is open already."),
    (ENGINEER, engineer, "/reopen", "Usage: /reopen KEY"),
    (ENGINEER, engineer, "/assign ACME-1", "Usage: /assign KEY @username|user_id"),
    (ENGINEER, engineer, f"/assign ACME-1 {STRANGER}", f"{STRANGER} is not on the staff."),
    (ENGINEER, engineer, "/note ACME-1", "Usage: /note KEY TEXT"),
    (ENGINEER, engineer, "/incident", "Usage: /incident KEY"),
    (ENGINEER, engineer, "/incidents NOPE", "No customer with code NOPE. See /customers."),
    (ENGINEER, engineer, "/my all", "Usage: /my"),
    (GROUP, customer, "/take ACME-1", "/take is for the support team only. Nothing was changed."),
    (GROUP, customer, "/new", "Usage: /new TEXT — always opens a new incident"),
    (STRANGER, stranger, "/status", "/status is for the support team only. Nothing was changed."),
    (ENGINEER, engineer, "/status", "/status works only in a customer's chat."),
])
async def test_bad_incident_commands(acme, chat, user, command, expected):
    await acme.say(GROUP, customer, "Problem")
    await acme.say(GROUP, customer, "/new Second")
    before = await Incident.all().order_by("id").values_list("priority", "status", "assignee_id")
    mark = acme.stub.mark()
    await acme.say(chat, user, command)
    assert acme.replies(chat, mark) == [expected]
    assert await Incident.all().order_by("id").values_list("priority", "status", "assignee_id") == before


async def test_slash_text_from_a_customer_is_a_problem_report(acme):
    await acme.say(GROUP, customer, "/var/log is full")
    assert await IncidentMessage.filter(text="/var/log is full").exists()


async def test_contract_expired_is_flagged_and_leads_told(acme):
    await customers.set_field("ACME", "contract_until", date(2026, 1, 31), acme.dp["desk"].sla, acme.clock.now())
    await acme.say(GROUP, customer, "Problem")
    assert (await Incident.get(key="ACME-1")).contract_expired
    assert "contract ended on 31.01.2026" in acme.last_reply(LEAD)


async def test_staff_chat_announcement(stub, db):
    from bot.settings import load_settings
    from tests.clock import FrozenClock
    from tests.conftest import Desk, make_env

    settings = load_settings(make_env(stub.url, db, STAFF_CHAT_ID=str(OTHER_GROUP)))
    desk = Desk(stub, settings, FrozenClock())
    await customers.add_customer("ACME", "24x7", "Acme", desk.clock.now())
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, desk.clock.now())
    await desk.say(GROUP, customer, "Outage!")
    assert "New incident ACME-1 · P1 · Acme (24x7): Outage!" in desk.last_reply(OTHER_GROUP)
    await desk.bot.session._session.close()


async def test_fifty_messages_from_ten_chats_at_once(acme):
    chats = [-200000 - i for i in range(10)]
    for chat in chats:
        await customers.bind_by_code("ACME", "telegram", str(chat), f"Acme {chat}", "supergroup", LEAD, acme.clock.now())
        acme.stub.chat(chat, f"Acme {chat}")
    sends = [acme.say(chat, customer, f"/new problem {n} in {chat}") for n in range(5) for chat in chats]
    await asyncio.gather(*sends)
    keys = sorted(await Incident.all().values_list("number", flat=True))
    assert keys == list(range(1, 51))
    assert await IncidentMessage.filter(source="customer").count() == 50
    assert sorted(await Incident.all().values_list("key", flat=True)) == sorted(f"ACME-{n}" for n in range(1, 51))


async def test_the_same_update_id_twice_is_handled_once(acme):
    await acme.say(GROUP, customer, "Problem")
    update = {"update_id": 777001, "message": acme.stub.make_message(ENGINEER, engineer, "/note ACME-1 check the logs")}
    await acme.dp.feed_raw_update(acme.bot, update)
    await acme.dp.feed_raw_update(acme.bot, update)
    assert await IncidentEvent.filter(kind="note").count() == 1
    assert len([t for t in acme.replies(ENGINEER) if "Note added" in t]) == 1


async def test_warranty_customer_is_asked_for_version_and_logs(acme):
    await customers.set_field("ACME", "plan", "warranty", acme.dp["desk"].sla, acme.clock.now())
    await acme.say(GROUP, customer, "Problem")
    assert "product version and the server logs" in bot_replies(acme, GROUP)[-1]["text"]


async def test_service_messages_open_no_incident_and_fill_no_inbox(acme):
    """Joins, leaves, a new title, a pinned message, a topic created: nobody wrote to support."""
    pinned = {"message_id": 1, "date": 0, "chat": acme.stub.chats[GROUP]}
    for extra in ({"new_chat_members": [customer_2]}, {"left_chat_member": customer_2}, {"new_chat_title": "Acme!"},
                  {"pinned_message": pinned}, {"forum_topic_created": {"name": "Q", "icon_color": 7322096}},
                  {"video_chat_started": {}}):
        await acme.say(GROUP, customer, None, **extra)
        await acme.say(OTHER_GROUP, stranger, None, **extra)  # an unbound group: its inbox stays empty too
    assert await Incident.all().count() == 0
    assert await UnboundMessage.all().count() == 0
    # A contact or a location from a customer is something they wrote.
    await acme.say(GROUP, customer, None, location={"latitude": 55.75, "longitude": 37.62})
    assert await Incident.all().count() == 1


async def test_message_lookups_and_edits_stay_in_their_own_chat(acme):
    """Message ids are counted per chat: the same id in two chats is two messages (mutation run survivors)."""
    from domain import intake

    now = acme.clock.now()
    customer_row = await customers.get_customer("ACME")
    made = []
    chats = {GROUP: await Conversation.get(**tg(GROUP)),
             OTHER_GROUP: await Conversation.create(**tg(OTHER_GROUP), customer=customer_row, kind="supergroup")}
    for number, chat_id in ((1, GROUP), (2, OTHER_GROUP)):
        made.append(await Incident.create(key=f"ACME-{number}", number=number, customer=customer_row, plan="24x7",
                                          conversation=chats[chat_id], priority="P2", opened_at=now,
                                          last_activity_at=now))
    here, there = made
    for incident, chat_id in ((here, GROUP), (there, OTHER_GROUP)):
        await IncidentMessage.create(incident=incident, conversation=chats[chat_id], ref="5", source="customer",
                                     text=f"first in {chat_id}", sent_at=now)
    await IncidentMessage.create(incident=here, conversation=chats[GROUP], ref="6", source="bot", text="ack",
                                 sent_at=now)
    await IncidentMessage.create(incident=here, conversation=chats[GROUP], ref="7", source="customer", text="more",
                                 sent_at=now)
    assert (await intake.incident_of_message(chats[OTHER_GROUP].id, "5")).id == there.id
    assert (await intake.first_customer_message(there.id)).text == f"first in {OTHER_GROUP}"
    assert (await intake.first_customer_message(here.id)).ref == "5"
    assert await intake.customer_message_count(here.id) == 2  # the bot's own message is not the customer's
    later = acme.clock.advance(timedelta(minutes=1))
    assert await intake.record_edit("telegram", str(OTHER_GROUP), "5", "edited", later) is True
    assert await intake.record_edit("telegram", str(OTHER_GROUP), "6", "no such message there", later) is False
    refs = {c.id: int(c.ref) for c in chats.values()}
    stored = {(refs[m.conversation_id], int(m.ref)): (m.text, m.edited_at) for m in await IncidentMessage.all()}
    assert stored[(OTHER_GROUP, 5)] == ("edited", later)
    assert stored[(GROUP, 5)] == (f"first in {GROUP}", None)
    assert stored[(GROUP, 6)] == ("ack", None)


@pytest.mark.parametrize("text", ["\u200b", "\u2060\ufeff", "\u200d \u200c"])
async def test_a_message_of_invisible_characters_opens_nothing_and_pages_no_one(acme, text):
    await acme.say(GROUP, customer, text)
    assert await Incident.all().count() == 0 and await IncidentMessage.all().count() == 0
    assert bot_replies(acme, GROUP) == []
    await acme.say(GROUP, customer, "\u200bСервер упал")  # words after an invisible character are words
    assert await Incident.all().count() == 1
