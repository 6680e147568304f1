"""Thousands of random but well-formed updates: no handler fails, the bot keeps answering, and the
database stays consistent (every incident has a key, an event trail and a customer)."""

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
USERS = [lead, engineer, architect, customer, customer_2, stranger, {"id": 777, "is_bot": False, "first_name": "Z"}]
CHATS = [LEAD, ENGINEER, ARCHITECT, STRANGER, GROUP, OTHER_GROUP, FORUM]
WORDS = st.sampled_from(["ACME", "acme", "ACME-1", "ACME-2", "ACME-99", "NOPE-1", "P1", "P5", "premium", "8x5",
                         "gold", "@eng_boris", "@nobody", "2002", "-5", "0", "now", "12h", "2026-03-16", "10:00",
                         "day", "night", "weekly", "architect", "lead", "users", "tz", "Europe/Moscow", "🙂",
                         "x" * 300, "2026-03", "month", "all", "'", '"', "\\", "<b>", "%s", "{key}"])
TEXTS = st.one_of(
    st.text(max_size=200),
    st.builds(lambda c, args: f"/{c} " + " ".join(args), st.sampled_from([*sorted(COMMANDS), "nope", "start@x"]),
              st.lists(WORDS, max_size=5)),
    st.just("🔥" * 50), st.just("упал сервер, не работает у всех"), st.just("y" * 4096),
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


@st.composite
def updates(draw):
    chat = draw(st.sampled_from(CHATS))
    user = draw(st.sampled_from(USERS))
    kind = draw(st.sampled_from(["text", "text", "text", "attachment", "edit", "callback", "reply", "caption",
                                 "on_behalf"]))
    extra = {}
    if chat == FORUM:
        extra = {"message_thread_id": draw(st.integers(1, 3)), "is_topic_message": True}
    if kind == "attachment":
        extra.update(draw(ATTACHMENTS))
        return ("message", chat, user, None, extra)
    if kind == "caption":  # a command (or any text) under a photo or a document
        extra.update(draw(ATTACHMENTS))
        extra["caption"] = draw(TEXTS)
        return ("message", chat, user, None, extra)
    if kind == "on_behalf" and chat < 0:  # an anonymous admin, a post as a channel, a linked channel's post
        sender = draw(st.sampled_from(["group", "channel", "forward"]))
        extra["on_behalf"] = sender
        return ("message", chat, user, draw(TEXTS), extra)
    if kind == "callback":
        return ("callback", chat, user, draw(CALLBACKS), extra)
    if kind == "reply":
        extra["reply_to_id"] = draw(st.integers(100000, 100400))
    return ("edit" if kind == "edit" else "message", chat, user, draw(TEXTS), extra)


async def feed(desk, item) -> None:
    kind, chat, user, payload, extra = item
    if chat > 0:
        user = next((u for u in USERS if u["id"] == chat), user)  # private chats belong to their person
    on_behalf = extra.pop("on_behalf", None)
    if on_behalf == "group":
        user = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
        extra["sender_chat"] = desk.stub.chats.get(chat) or desk.stub.chat(chat)
    elif on_behalf in ("channel", "forward"):
        user = ({"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
                if on_behalf == "channel" else {"id": 777000, "is_bot": False, "first_name": "Telegram"})
        extra["sender_chat"] = {"id": -100900, "type": "channel", "title": "Acme news"}
        extra["is_automatic_forward"] = on_behalf == "forward"
    reply_to = extra.pop("reply_to_id", None)
    if reply_to is not None:
        extra["reply_to_message"] = {"message_id": reply_to, "date": 0, "chat": desk.stub.chats.get(chat)
                                     or desk.stub.chat(chat)}
    if kind == "callback":
        message = desk.stub.make_message(chat, lead, "x")
        await desk.press(message, user, payload)
    elif kind == "edit":
        message = desk.stub.make_message(chat, user, payload or "x", **extra)
        await desk.feed({"edited_message": {**message, "edit_date": message["date"]}})
    else:
        await desk.say(chat, user, payload, **extra)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(batch=st.lists(updates(), min_size=20, max_size=40))
async def test_random_updates(desk, batch):
    if not await Customer.exists(code="ACME"):
        now = desk.clock.now()
        await customers.add_customer("ACME", "premium", "Acme", now)
        await customers.bind_by_code("ACME", GROUP, "Acme", "supergroup", LEAD, now)
        await customers.bind_by_code("ACME", FORUM, "Acme forum", "supergroup", LEAD, now)
        desk.stub.chat(FORUM, "Acme forum", forum=True)
        for user in (engineer, architect):
            await people.register_staff(user["id"], "engineer" if user is engineer else "architect", LEAD, now)
    errors = telemetry.HANDLER_ERRORS._value.get()
    mark = desk.stub.mark()
    for item in batch:
        await feed(desk, item)
    assert telemetry.HANDLER_ERRORS._value.get() == errors
    texts = [c.params.get("text", "") for c in desk.stub.calls[mark:]]
    assert not [t for t in texts if t.startswith("Something went wrong")]
    # The bot still answers.
    before = desk.stub.mark()
    await desk.say(STRANGER, stranger, "/help")
    assert desk.replies(STRANGER, before)
    # The database is consistent.
    for incident in await Incident.all().select_related("customer"):
        assert re.fullmatch(rf"{incident.customer.code}-\d+", incident.key)
        assert await IncidentEvent.exists(incident=incident, kind="opened")
    numbers = sorted(await Incident.filter(customer__code="ACME").values_list("number", flat=True))
    assert numbers == list(range(1, len(numbers) + 1))
    orphans = await IncidentMessage.filter(incident_id__not_in=await Incident.all().values_list("id", flat=True))
    assert orphans == []
    assert ENGINEER and OTHER_GROUP
