"""Telegram's edges for what the bot sends (issue 12, items 8, 11, 13, 14): texts over Telegram's limits go
in parts, an incident's notices go to its forum topic, a chat the bot was removed from fails fast and its
notices reach the leads, and a group upgraded to a supergroup keeps its customer."""

from datetime import date, timedelta

import pytest

from domain import customers, incidents, outbox, people
from domain.models import Conversation, Incident, IncidentMessage, Outbox, Person, Rotation, UnboundMessage
from domain.text import CAPTION_LIMIT, TEXT_LIMIT, split, units
from handlers.pings import taken_notice
from handlers.replies import chunks
from scheduler.jobs import Heartbeat, Tick
from tests import fixtures
from tests.channels import chat_of, owed_to, tg
from tests.owed import courier, owe_text, pacer_of
from tests.people import ENGINEER, GROUP, LEAD, OTHER_GROUP, customer, engineer, lead
from tests.stub_api import BOT_ID, SERVER_ERROR

NEW_GROUP = -1001234567890  # the supergroup GROUP becomes
BASIC_GROUP = -4518810793  # a basic group: its ids have no -100 prefix


acme = fixtures.acme  # its fixture


def sent_to(desk, chat_id, method="sendMessage", since=0):
    """Every attempt to send there, refused or accepted (`since` counts arrivals too)."""
    return [c.params for c in desk.stub.find(method, since, among="arrived") if int(c.params["chat_id"]) == chat_id]


def keyboard(markup):
    return markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None


def long_text(lines=300, emoji=False):
    mark = "🚨" if emoji else "#"
    return "\n".join(f"{mark} line {n}: " + "x" * 40 for n in range(lines))


# ---- 13: texts over Telegram's limits ---------------------------------------------------------------------

def test_split_counts_as_telegram_does_and_keeps_whole_lines():
    text = long_text(300, emoji=True)  # each 🚨 is two UTF-16 units
    parts = split(text)
    assert len(parts) > 1 and all(units(part) <= TEXT_LIMIT for part in parts)
    assert "\n".join(parts) == text  # cut only at line breaks
    one_line = " ".join(["word"] * 3000)  # no line break at all: cut between words
    parts = split(one_line)
    assert all(units(part) <= TEXT_LIMIT for part in parts) and " ".join(parts) == one_line
    assert split("short") == ["short"]
    assert all(part.strip() for part in split("a\n\n" + "\n" * 5000 + "b", 100))  # no blank parts


def test_direct_answers_are_cut_to_telegram_units():
    # 3,000 emoji are 6,000 units: one message too long for Telegram, however few characters it has.
    parts = chunks("😀" * 3000)
    assert len(parts) == 2 and all(units(part) <= TEXT_LIMIT for part in parts)


async def test_a_long_card_answered_directly_arrives_whole(acme):
    for n in range(20):
        await acme.say(LEAD, lead, f"/customer_set ACME contact Контакт {n} " + "📞" * 150)
    mark = acme.stub.mark("arrived")
    await acme.say(LEAD, lead, "/customer ACME")
    answers = sent_to(acme, LEAD, since=mark)
    assert len(answers) >= 2, [a["text"][:40] for a in answers]
    assert all(units(a["text"]) <= TEXT_LIMIT for a in answers)
    assert sum(a["text"].count("📞") for a in answers) == 20 * 150


async def test_a_long_outbox_text_goes_in_parts_with_the_buttons_on_the_last(acme):
    await acme.say(GROUP, customer, "Problem")
    incident = await Incident.get(key="ACME-1")
    text = long_text(300)
    markup = {"inline_keyboard": [[{"text": "5", "callback_data": "rate:1:5"}]]}
    await owe_text(GROUP, text, acme.clock.now(), kind="customer", incident_id=incident.id, markup=markup,
                         reply_to=777)
    mark = acme.stub.mark("arrived")
    await acme.flush()
    parts = sent_to(acme, GROUP, since=mark)
    assert len(parts) == len(split(text)) >= 3
    assert "\n".join(p["text"] for p in parts) == text
    assert [keyboard(p.get("reply_markup")) is not None for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[0]["reply_parameters"]["message_id"] == 777 and all("reply_parameters" not in p for p in parts[1:])
    # A reply to any part threads into the incident.
    ids = [m["message_id"] for m in acme.stub.delivered[-len(parts):]]
    stored = await IncidentMessage.filter(incident=incident, source="bot", ref__in=[str(i) for i in ids]).count()
    assert stored == len(parts)
    row = await Outbox.get(kind="customer")
    assert (row.status, outbox.sent_ref(row)) == ("sent", str(ids[-1]))


async def test_a_part_that_failed_is_sent_again_and_the_parts_before_it_are_not(acme):
    text = long_text(300)
    await owe_text(LEAD, text, acme.clock.now(), kind="handover")
    first_parts = split(text)
    original = acme.stub._m_sendMessage
    calls = {"n": 0}

    async def flaky(params):
        calls["n"] += 1
        if calls["n"] == 1:  # the first part is delivered, and the second then meets a 500
            acme.stub.faults["sendMessage"] = [SERVER_ERROR]
        return await original(params)

    acme.stub._m_sendMessage = flaky
    for _ in range(6):
        await acme.outbox.drain_once()
        acme.clock.advance(timedelta(seconds=5))
    texts = [m["text"] for m in acme.stub.delivered if int(m["chat_id"]) == LEAD]
    assert texts == first_parts  # each part once, in order
    assert (await Outbox.get(kind="handover")).status == "sent"


async def test_a_photo_with_a_long_caption_goes_as_the_photo_and_then_the_text(acme):
    caption = long_text(60)
    assert units(caption) > CAPTION_LIMIT
    await owe_text(GROUP, caption, acme.clock.now(), kind="report", photo=b"\x89PNG fake", rank=2)
    await owe_text(OTHER_GROUP, "Short title", acme.clock.now(), kind="report", photo=b"\x89PNG", rank=2)
    await acme.flush()
    photos = sent_to(acme, GROUP, "sendPhoto")
    assert len(photos) == 1 and not photos[0].get("caption")
    assert "\n".join(p["text"] for p in sent_to(acme, GROUP)) == caption
    assert sent_to(acme, OTHER_GROUP, "sendPhoto")[0]["caption"] == "Short title"  # one that fits stays a caption
    assert await Outbox.filter(status="sent").count() == 2


async def test_the_handover_of_many_open_incidents_arrives(acme):
    for n in range(60):
        await acme.say(GROUP, customer, f"/new Problem number {n} " + "with a long description " * 4)
    now = acme.clock.now()
    await Rotation.create(shift="day", mode="daily", members=[ENGINEER], anchor=date(2026, 1, 1), updated_at=now)
    tick = Tick(acme.settings, acme.clock, acme.dp["desk"].sla, Heartbeat())
    mark = acme.stub.mark("arrived")
    for _ in range(24 * 4):  # some shift starts within a day
        acme.clock.advance(timedelta(minutes=15))
        await tick.handovers(acme.clock.now())
        await acme.flush()
        if sent_to(acme, ENGINEER, since=mark):
            break
    handover = [p["text"] for p in sent_to(acme, ENGINEER, since=mark)]
    assert len(handover) >= 2 and all(units(text) <= TEXT_LIMIT for text in handover)
    assert all(f"ACME-{n}" in "\n".join(handover) for n in range(1, 61))
    assert await Outbox.filter(kind="handover", status="failed").count() == 0


# ---- 14: forum topics -------------------------------------------------------------------------------------

async def test_an_incidents_notices_go_to_its_forum_topic(acme):
    acme.stub.chat(GROUP, "Acme", forum=True)
    await acme.say(GROUP, customer, "Problem in a topic", message_thread_id=11, is_topic_message=True)
    ack = sent_to(acme, GROUP)[-1]
    assert "ACME-1" in ack["text"] and int(ack["message_thread_id"]) == 11

    mark = acme.stub.mark("arrived")
    await acme.say(ENGINEER, engineer, "/take ACME-1")
    await acme.say(ENGINEER, engineer, "/resolve ACME-1 Restarted")
    await acme.say(ENGINEER, engineer, "/reopen ACME-1")
    notices = sent_to(acme, GROUP, since=mark)
    assert [n["text"].split(":")[0].split(" ")[0] for n in notices] == ["ACME-1"] * 3
    assert "an engineer is on it" in notices[0]["text"]
    assert "is resolved" in notices[1]["text"] and keyboard(notices[1]["reply_markup"])
    assert "reopened" in notices[2]["text"]
    assert all(int(n.get("message_thread_id", 0)) == 11 for n in notices), notices


async def test_take_typed_in_general_tells_the_topic(acme):
    acme.stub.chat(GROUP, "Acme", forum=True)
    await acme.say(GROUP, customer, "Problem in a topic", message_thread_id=11, is_topic_message=True)
    mark = acme.stub.mark("arrived")
    await acme.say(GROUP, engineer, "/take ACME-1")  # in General, not in the incident's topic
    said = sent_to(acme, GROUP, since=mark)
    in_topic = [s for s in said if int(s.get("message_thread_id", 0)) == 11]
    assert len(in_topic) == 1 and "an engineer is on it" in in_topic[0]["text"]


async def take_quietly(desk, key):
    """Staff take the incident without an answer of their own: the fault queued next meets the notice."""
    incident = await Incident.get(key=key).select_related("customer")
    await incidents.take(incident, ENGINEER, desk.clock.now(), taken_notice(desk.settings, desk.clock.now()))


async def test_a_deleted_topic_sends_the_notice_to_general(acme):
    await acme.say(GROUP, customer, "Problem")
    incident = await Incident.get(key="ACME-1")
    await Incident.filter(id=incident.id).update(topic="99")
    await take_quietly(acme, "ACME-1")
    acme.stub.faults["sendMessage"] = [(400, {"ok": False, "error_code": 400,
                                             "description": "Bad Request: message thread not found"})]
    await acme.flush()
    notices = [n for n in sent_to(acme, GROUP) if "an engineer is on it" in n["text"]]
    assert len(notices) == 2 and int(notices[0]["message_thread_id"]) == 99 and "message_thread_id" not in notices[1]
    assert len([m for m in acme.stub.delivered if "an engineer is on it" in m["text"]]) == 1


# ---- 8: the bot removed from a customer chat, or blocked ---------------------------------------------------

def member_update(desk, chat_id, status, by=lead, **rights):
    chat = desk.stub.chats.get(chat_id) or desk.stub.chat(chat_id)
    bot = {"id": BOT_ID, "is_bot": True, "first_name": "DutyDesk", "username": desk.stub.username}
    old = {"status": "member", "user": bot}
    new = {"status": status, "user": bot, **rights}
    if status == "kicked":
        new["until_date"] = 0
    if status == "restricted":
        new.update({"is_member": True, "until_date": 0})
        for right in ("can_send_audios", "can_send_documents", "can_send_photos", "can_send_videos",
                      "can_send_video_notes", "can_send_voice_notes", "can_send_polls", "can_send_other_messages",
                      "can_add_web_page_previews", "can_change_info", "can_invite_users", "can_pin_messages",
                      "can_manage_topics", "can_react_to_messages", "can_edit_tag"):
            new.setdefault(right, False)
    return {"my_chat_member": {"chat": chat, "from": by, "date": int(desk.clock.now().timestamp()),
                               "old_chat_member": old, "new_chat_member": new}}


async def test_removed_from_a_customer_chat_the_leads_are_told_and_notices_reach_them(acme):
    await acme.say(GROUP, customer, "Problem")
    await acme.feed(member_update(acme, GROUP, "kicked"))
    await acme.feed(member_update(acme, GROUP, "left"))  # said twice: told once
    chat = await Conversation.get(**tg(GROUP))
    assert chat.unreachable_since == acme.clock.now()
    told = [t for t in acme.replies(LEAD) if "can no longer write" in t]
    assert len(told) == 1 and "ACME" in told[0]

    mark = acme.stub.mark("arrived")
    await acme.say(ENGINEER, engineer, "/resolve ACME-1 Restarted")
    assert sent_to(acme, GROUP, since=mark) == []  # fail fast: Telegram is not even asked
    rerouted = [p for p in sent_to(acme, LEAD, since=mark) if "ACME-1 is resolved" in p["text"]]
    assert len(rerouted) == 1 and "Could not deliver" in rerouted[0]["text"]
    assert not keyboard(rerouted[0].get("reply_markup"))  # the rating buttons stay with the customer
    assert (await Outbox.get(**await owed_to(GROUP), kind="customer")).status == "failed"

    await acme.feed(member_update(acme, GROUP, "member"))  # added back
    assert (await Conversation.get(**tg(GROUP))).unreachable_since is None
    assert any("is back in the chat" in t for t in acme.replies(LEAD))
    await acme.say(ENGINEER, engineer, "/reopen ACME-1")
    assert any("reopened" in p["text"] for p in sent_to(acme, GROUP, since=mark))


async def test_pings_for_the_customer_go_on_while_its_chat_is_unreachable(acme):
    now = acme.clock.now()
    await Rotation.create(shift="day", mode="daily", members=[ENGINEER], anchor=date(2026, 1, 1), updated_at=now)
    await Rotation.create(shift="night", mode="daily", members=[ENGINEER], anchor=date(2026, 1, 1), updated_at=now)
    await acme.say(GROUP, customer, "Всё упало")
    await acme.feed(member_update(acme, GROUP, "kicked"))
    tick = Tick(acme.settings, acme.clock, acme.dp["desk"].sla, Heartbeat())
    deadline = (await Incident.get(key="ACME-1")).deadline
    while acme.clock.now() < deadline + timedelta(minutes=1):
        acme.clock.advance(timedelta(minutes=1))
        await tick.run()
        await acme.flush()
    assert any("ACME-1" in t and "⏰" in t for t in acme.replies(ENGINEER))  # the reminder
    assert any("ACME-1" in t and "🚨" in t for t in acme.replies(ENGINEER))  # the breach


async def test_a_refused_send_marks_the_chat_and_the_next_notice_fails_fast(acme):
    await acme.say(GROUP, customer, "Problem")
    acme.stub.forbidden_chats.add(GROUP)
    mark = acme.stub.mark("arrived")
    await acme.say(ENGINEER, engineer, "/take ACME-1")
    await acme.say(ENGINEER, engineer, "/resolve ACME-1 Done")
    assert len(sent_to(acme, GROUP, since=mark)) == 1  # the first was refused; the second was not tried
    assert (await Conversation.get(**tg(GROUP))).unreachable_since is not None
    assert len([t for t in acme.replies(LEAD) if "can no longer write" in t]) == 1
    rerouted = [t for t in acme.replies(LEAD) if "Could not deliver" in t]
    assert len(rerouted) == 2 and "an engineer is on it" in rerouted[0] and "is resolved" in rerouted[1]
    assert await Outbox.filter(**await owed_to(GROUP), status__in=("pending", "sending")).count() == 0


async def test_muted_in_a_customer_chat_is_unreachable_too(acme):
    await acme.feed(member_update(acme, GROUP, "restricted", can_send_messages=False))
    assert (await Conversation.get(**tg(GROUP))).unreachable_since is not None
    await acme.feed(member_update(acme, GROUP, "administrator", can_be_edited=False, can_manage_chat=True,
                                  can_change_info=False, can_delete_messages=True, can_invite_users=True,
                                  can_restrict_members=False, can_promote_members=False,
                                  can_manage_video_chats=False, is_anonymous=False, can_post_stories=False,
                                  can_edit_stories=False, can_delete_stories=False, can_send_welcome_messages=False))
    assert (await Conversation.get(**tg(GROUP))).unreachable_since is None


async def test_a_group_bound_to_nobody_changes_nothing(acme):
    await acme.feed(member_update(acme, OTHER_GROUP, "kicked"))
    assert acme.replies(LEAD) == []
    assert await Conversation.filter(unreachable_since__isnull=False).count() == 0


async def test_staff_who_blocked_the_bot_are_marked_and_the_leads_told(acme):
    await acme.feed(member_update(acme, ENGINEER, "kicked", by=engineer))
    await acme.feed(member_update(acme, ENGINEER, "kicked", by=engineer))
    assert (await Person.get(id=ENGINEER)).can_dm is False
    assert len([t for t in acme.replies(LEAD) if "blocked the bot" in t]) == 1
    await acme.feed(member_update(acme, ENGINEER, "member", by=engineer))
    assert (await Person.get(id=ENGINEER)).can_dm is True


# ---- 11: a group upgraded to a supergroup -----------------------------------------------------------------

async def upgraded(desk, old, new, by=lead):
    """The two service messages Telegram sends when a group becomes a supergroup."""
    desk.stub.chat(new, "Acme")
    await desk.say(old, by, None, migrate_to_chat_id=new)
    await desk.say(new, by, None, migrate_from_chat_id=old)


@pytest.fixture
async def basic(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(BASIC_GROUP), "Acme", "group", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(BASIC_GROUP, "Acme", kind="group")
    return desk


async def test_an_upgraded_group_keeps_its_customer_incidents_and_notices(basic):
    first = await basic.say(BASIC_GROUP, customer, "Problem")
    incident = await Incident.get(key="ACME-1")
    await owe_text(BASIC_GROUP, "owed before the upgrade", basic.clock.now(), kind="customer",
                         incident_id=incident.id, reply_to=first["message_id"])
    await upgraded(basic, BASIC_GROUP, NEW_GROUP)
    chat = await Conversation.get(customer__code="ACME")
    assert (int(chat.ref), chat.kind) == (NEW_GROUP, "supergroup")
    assert await chat_of(await Incident.get(key="ACME-1")) == NEW_GROUP
    owed = sent_to(basic, NEW_GROUP)
    assert [p["text"] for p in owed] == ["owed before the upgrade"] and "reply_parameters" not in owed[0]
    assert sent_to(basic, BASIC_GROUP, since=0)[1:] == []  # nothing more to the old id after the ack

    # The supergroup numbers its messages afresh: one with the id of an old stored message is still new.
    mark = basic.stub.mark("arrived")
    old_ids = {int(r) for r in await IncidentMessage.filter(conversation__ref=str(BASIC_GROUP)).values_list(
        "ref", flat=True)}
    new_ids = {int(r) for r in await IncidentMessage.filter(conversation__ref=str(NEW_GROUP)).values_list(
        "ref", flat=True)}
    reused = min(old_ids - new_ids)
    await basic.say(NEW_GROUP, customer, "Still broken", message_id=reused)
    assert await UnboundMessage.all().count() == 0
    assert await IncidentMessage.filter(incident=incident, source="customer").count() == 2
    assert sent_to(basic, NEW_GROUP, since=mark) == []  # a follow-up, silently joined
    await basic.say(ENGINEER, engineer, "/resolve ACME-1 Fixed")
    assert "ACME-1 is resolved" in sent_to(basic, NEW_GROUP)[-1]["text"]


async def test_an_upgrade_by_an_anonymous_admin_is_followed(basic):
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
    await upgraded(basic, BASIC_GROUP, NEW_GROUP, by=anonymous)
    assert (await Conversation.get(customer__code="ACME")).ref == str(NEW_GROUP)


async def test_a_send_refused_with_migrate_to_chat_id_follows_the_new_id(basic):
    await basic.say(BASIC_GROUP, customer, "Problem")
    basic.stub.chat(NEW_GROUP, "Acme")
    await take_quietly(basic, "ACME-1")
    basic.stub.faults["sendMessage"] = [(400, {
        "ok": False, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": NEW_GROUP}})]
    await basic.flush()
    notices = [p for p in sent_to(basic, NEW_GROUP) if "an engineer is on it" in p["text"]]
    assert len(notices) == 1
    assert (await Conversation.get(customer__code="ACME")).ref == str(NEW_GROUP)
    assert await chat_of(await Incident.get(key="ACME-1")) == NEW_GROUP
    assert await Outbox.filter(status__in=("pending", "sending")).count() == 0  # nothing loops
    await basic.say(NEW_GROUP, customer, "more details")  # the customer's next message is theirs
    assert await UnboundMessage.all().count() == 0
    assert await IncidentMessage.filter(conversation__ref=str(NEW_GROUP), source="customer").count() == 1


async def test_a_ping_after_the_upgrade_links_no_wrong_message(basic):
    from domain.alerts import Ping
    from handlers.pings import make_render

    await basic.say(BASIC_GROUP, customer, "Problem")
    await upgraded(basic, BASIC_GROUP, NEW_GROUP)
    incident = await Incident.get(key="ACME-1").select_related("customer")
    assert await chat_of(incident) == NEW_GROUP
    # The opening message stays in the basic group, which has no links: a link built from the supergroup's
    # id and the old message id would open some other message of the supergroup.
    _, markup = await make_render(basic.settings)(Ping(incident=incident, user_id=ENGINEER, kind="reminder"),
                                                  basic.clock.now())
    assert [b.get("url") for b in markup["inline_keyboard"][0] if b.get("url")] == []


# ---- every other refusal ends the row instead of looping ---------------------------------------------------

@pytest.mark.parametrize("fault", [
    (409, {"ok": False, "error_code": 409, "description": "Conflict: something new"}),
    (413, {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}),
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities"}),
], ids=["409", "413", "400"])
async def test_a_refusal_retrying_cannot_cure_fails_the_row(desk, fault):
    dispatcher = courier(desk, pacer_of(desk.outbox))
    desk.stub.faults["sendMessage"] = [fault]
    await owe_text(ENGINEER, "notice", desk.clock.now(), kind="notice")
    await owe_text(LEAD, "the next one", desk.clock.now(), kind="notice")
    for _ in range(3):
        await dispatcher.drain_once()
        desk.clock.advance(timedelta(seconds=5))
    assert (await Outbox.get(person_id=ENGINEER)).status == "failed"
    assert (await Outbox.get(person_id=LEAD)).status == "sent"
    assert len(desk.stub.find("sendMessage", where=lambda p: int(p["chat_id"]) == ENGINEER, among="arrived")) == 1


async def test_a_404_does_not_mark_a_customer_chat_lost(acme):
    await acme.say(GROUP, customer, "Problem")
    await take_quietly(acme, "ACME-1")
    acme.stub.faults["sendMessage"] = [(404, {"ok": False, "error_code": 404, "description": "Not Found"})]
    await acme.flush()
    assert (await Conversation.get(**tg(GROUP))).unreachable_since is None
    assert not [t for t in acme.replies(LEAD) if "can no longer write" in t]
    assert (await Outbox.get(kind="customer")).status == "failed"
