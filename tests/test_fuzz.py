"""Thousands of random but well-formed updates: no handler fails, the bot keeps answering, and the
database stays consistent (every incident has a key, an event trail and a customer)."""

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import telemetry
from domain import customers, people
from domain.access import COMMANDS
from domain.models import Customer, Incident, IncidentEvent, IncidentMessage
from tests.people import (
    ARCHITECT,
    ENGINEER,
    GROUP,
    LEAD,
    OTHER_GROUP,
    STRANGER,
    architect,
    customer,
    customer_2,
    engineer,
    lead,
    stranger,
)

FORUM = -100700
BASIC = -500  # a basic group that Telegram upgrades to a supergroup halfway through
CHANNEL = {"id": -100900, "type": "channel", "title": "Acme news"}
ANONYMOUS_ADMIN = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
OTHER_BOT = {"id": 5550001, "is_bot": True, "first_name": "Other", "username": "other_bot"}
USERS = [lead, engineer, architect, customer, customer_2, stranger, {"id": 777, "is_bot": False, "first_name": "Z"},
         OTHER_BOT]
CHATS = [LEAD, ENGINEER, ARCHITECT, STRANGER, GROUP, OTHER_GROUP, FORUM, BASIC]
WORDS = st.sampled_from(["ACME", "acme", "ACME-1", "ACME-2", "ACME-99", "NOPE-1", "P1", "P5", "premium", "8x5",
                         "gold", "@eng_boris", "@nobody", "2002", "-5", "0", "now", "12h", "2026-03-16", "10:00",
                         "day", "night", "weekly", "architect", "lead", "users", "tz", "Europe/Moscow", "🙂",
                         "x" * 300, "2026-03", "month", "all", "'", '"', "\\", "<b>", "%s", "{key}", "1",
                         "=HYPERLINK(\"x\")", "\u202e", "\x00", "BETA-1"])
COMMAND_TEXTS = st.builds(lambda c, args: f"/{c} " + " ".join(args),
                          st.sampled_from([*sorted(COMMANDS), "nope", "start@x", "help@dutydesk_test_bot",
                                           "take@other_bot"]),
                          st.lists(WORDS, max_size=5))
TEXTS = st.one_of(
    st.text(max_size=200), COMMAND_TEXTS, COMMAND_TEXTS,
    st.just("🔥" * 50), st.just("упал сервер, не работает у всех"), st.just("y" * 4096), st.just("\n" * 30),
)
CALLBACKS = st.one_of(st.text(max_size=64), st.builds(lambda k, n, v: f"{k}:{n}:{v}",
                                                      st.sampled_from(["prio", "rate", "take"]),
                                                      st.integers(-5, 10), st.sampled_from(["P1", "P4", "3", "9", "x"])))
ATTACHMENTS = st.sampled_from([
    {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]},
    {"document": {"file_id": "d", "file_unique_id": "d"}},
    {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 1}},
    {"sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
                 "is_animated": False, "is_video": False}},
    {"video": {"file_id": "w", "file_unique_id": "w", "width": 1, "height": 1, "duration": 1}},
])
BOT_STATUSES = ["member", "administrator", "left", "kicked", "restricted"]
# Every kind of update a real client sends, and the odd ones (a button on a message too old to be shown).
KINDS = ["text", "text", "text", "attachment", "caption", "edit", "edit_caption", "callback", "real_button",
         "old_button", "reply", "anonymous_admin", "as_channel", "automatic_forward", "channel_post", "forward",
         "my_chat_member", "joined", "left", "migrate"]


@st.composite
def updates(draw):
    chat = draw(st.sampled_from(CHATS))
    user = draw(st.sampled_from(USERS))
    kind = draw(st.sampled_from(KINDS))
    extra = {}
    if chat == FORUM:
        extra = {"message_thread_id": draw(st.integers(1, 3)), "is_topic_message": True}
    if kind in ("attachment", "caption"):
        extra.update(draw(ATTACHMENTS))
        if kind == "caption":
            extra["caption"] = draw(TEXTS)[:1024]
        return ("message", chat, user, None, extra)
    if kind == "edit_caption":
        extra.update(draw(ATTACHMENTS), caption=draw(TEXTS)[:1024])
        return ("edit", chat, user, None, extra)
    if kind in ("callback", "old_button"):
        return (kind, chat, user, draw(CALLBACKS), extra)
    if kind == "real_button":
        return (kind, chat, user, draw(st.integers(0, 10_000)), extra)
    if kind == "reply":
        extra["reply_to_id"] = draw(st.integers(1, 400))  # message ids count per chat
    if kind == "my_chat_member":
        return (kind, chat, user, draw(st.sampled_from(BOT_STATUSES)), extra)
    if kind in ("joined", "left", "migrate"):
        return (kind, chat, user, None, extra)
    if kind in ("anonymous_admin", "as_channel", "automatic_forward", "channel_post", "forward"):
        return (kind, chat, user, draw(TEXTS), extra)
    return ("edit" if kind == "edit" else "message", chat, user, draw(TEXTS), extra)


def _member(status: str, user: dict) -> dict:
    member = {"status": status, "user": user}
    if status == "kicked":
        member["until_date"] = 0
    if status == "restricted":
        member.update({"is_member": True, "until_date": 0, **{k: False for k in (
            "can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos", "can_send_videos",
            "can_send_video_notes", "can_send_voice_notes", "can_send_polls", "can_send_other_messages",
            "can_add_web_page_previews", "can_change_info", "can_invite_users", "can_pin_messages",
            "can_manage_topics", "can_react_to_messages", "can_edit_tag")}})
    if status == "administrator":
        member.update({k: True for k in ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                                         "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                                         "can_change_info", "can_invite_users", "can_post_stories",
                                         "can_edit_stories", "can_delete_stories",
                                         "can_send_welcome_messages")})
    return member


async def feed(desk, item) -> None:
    kind, chat, user, payload, extra = item
    if chat > 0:
        user = next((u for u in USERS if u["id"] == chat), user)  # private chats belong to their person
    stub = desk.stub
    chat_object = stub.chats.get(chat) or stub.chat(chat, kind="group" if chat == BASIC else None)
    date = int(desk.clock.now().timestamp())
    reply_to = extra.pop("reply_to_id", None)
    if reply_to is not None:
        extra["reply_to_message"] = {"message_id": reply_to, "date": 0, "chat": chat_object}
    if kind == "callback":
        message = stub.make_message(chat, lead, "x")
        await desk.press(message, user, payload)
    elif kind == "old_button":  # a message older than 48 hours comes as an inaccessible one
        await desk.feed({"callback_query": {"id": "old", "from": user, "chat_instance": "1", "data": payload,
                                            "message": {"chat": chat_object, "message_id": 1, "date": 0}}})
    elif kind == "real_button":  # a button the bot really sent, pressed by whoever
        sent = [c.params for c in stub.find("sendMessage") if c.params.get("reply_markup")]
        if not sent:
            return
        params = sent[payload % len(sent)]
        buttons = [b for row in params["reply_markup"]["inline_keyboard"] for b in row if "callback_data" in b]
        if not buttons:
            return
        target = int(params["chat_id"])
        if target > 0:
            user = next((u for u in USERS if u["id"] == target), user)
        message = {"message_id": 1, "date": date, "chat": stub.chats.get(target) or stub.chat(target),
                   "from": stub.bot_user(), "text": params.get("text", "")[:100]}
        await desk.press(message, user, buttons[payload % len(buttons)]["callback_data"])
    elif kind == "edit":
        message = stub.make_message(chat, user, payload, **extra)
        await desk.feed({"edited_message": {**message, "edit_date": message["date"]}})
    elif kind == "my_chat_member":
        await desk.feed({"my_chat_member": {"chat": chat_object, "from": user, "date": date,
                                            "old_chat_member": _member("member", stub.bot_user()),
                                            "new_chat_member": _member(payload, stub.bot_user())}})
    elif kind == "joined":
        await desk.say(chat, user, None, new_chat_members=[user, stub.bot_user()], **extra)
    elif kind == "left":
        await desk.say(chat, user, None, left_chat_member=user, **extra)
    elif kind == "migrate":
        if chat != BASIC or chat_object.get("type") != "group":
            await desk.say(chat, user, "после обновления", **extra)
            return
        new_id = -1005000
        await desk.say(BASIC, user, None, migrate_to_chat_id=new_id)
        stub.chat(new_id, "Acme upgraded")
        await desk.say(new_id, ANONYMOUS_ADMIN, None, migrate_from_chat_id=BASIC, sender_chat=stub.chats[new_id])
    elif kind == "anonymous_admin":
        await desk.say(chat, ANONYMOUS_ADMIN, payload, sender_chat=chat_object, **extra)
    elif kind == "as_channel":
        await desk.say(chat, CHANNEL_BOT, payload, sender_chat=CHANNEL, **extra)
    elif kind == "automatic_forward":
        await desk.say(chat, CHANNEL_BOT, payload, sender_chat=CHANNEL, is_automatic_forward=True,
                       forward_origin={"type": "channel", "chat": CHANNEL, "message_id": 7, "date": date}, **extra)
    elif kind == "channel_post":
        message = {"message_id": stub.new_message_id(CHANNEL["id"]), "date": date, "chat": CHANNEL, "sender_chat": CHANNEL,
                   "text": payload or "x"}
        await desk.feed({"channel_post": message})
    elif kind == "forward":
        await desk.say(chat, user, payload, forward_origin={"type": "user", "date": date, "sender_user": stranger},
                       **extra)
    else:
        await desk.say(chat, user, payload, **extra)


# 100 batches of 30–50: about 4,000 updates a run (FUZZ_EXAMPLES=250 sends about 10,000, by hand).
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(batch=st.lists(updates(), min_size=30, max_size=50))
async def test_random_updates(desk, batch, caplog):
    if not await Customer.exists(code="ACME"):
        now = desk.clock.now()
        await customers.add_customer("ACME", "premium", "Acme", now)
        await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
        await customers.bind_by_code("ACME", "telegram", str(FORUM), "Acme forum", "supergroup", LEAD, now)
        await customers.bind_by_code("ACME", "telegram", str(BASIC), "Acme basic", "group", LEAD, now)
        desk.stub.chat(FORUM, "Acme forum", forum=True)
        for user in (engineer, architect):
            await people.register_staff(user["id"], "engineer" if user is engineer else "architect", LEAD, now)
    errors = telemetry.REGISTRY.get_sample_value("dutydesk_handler_errors_total")
    mark = desk.stub.mark()
    for item in batch:
        await feed(desk, item)
    assert telemetry.REGISTRY.get_sample_value("dutydesk_handler_errors_total") == errors
    # No traceback in the log: every kind of update is handled deliberately.
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert tracebacks == []
    texts = [c.params.get("text", "") for c in desk.stub.calls[mark:]]
    assert not [t for t in texts if t.startswith("Something went wrong")]
    # The bot still answers.
    before = desk.stub.mark()
    await desk.say(STRANGER, stranger, "/help")
    assert [text for text in desk.replies(STRANGER, before) if "/help" in text and "/lang" in text]
    # The database is consistent.
    for incident in await Incident.all().select_related("customer"):
        assert re.fullmatch(rf"{incident.customer.code}-\d+", incident.key)
        assert await IncidentEvent.exists(incident=incident, kind="opened")
    numbers = sorted(await Incident.filter(customer__code="ACME").values_list("number", flat=True))
    assert numbers == list(range(1, len(numbers) + 1))
    orphans = await IncidentMessage.filter(incident_id__not_in=await Incident.all().values_list("id", flat=True))
    assert orphans == []
