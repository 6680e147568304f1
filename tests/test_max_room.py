"""MAX updates through the chat-room layer, on a real database and the MAX stand-in: MAX's JSON for a message,
a reply, a button press, an edit and a private dialog become what the desk does, each in its update's
transaction, and the layer's answers are written in the MAX chat once it committed."""

import re

import pytest

from bot.app import build_channels
from bot.settings import load_settings
from domain import people
from domain.models import Conversation, Incident, IncidentMessage, Outbox, UnboundMessage
from handlers.max.channel import MaxChannel
from handlers.max.room import make_handle
from handlers.max.transport import handle_once
from handlers.max.updates import read
from handlers.max.wiring import build_max_bot
from handlers.telegram_channel import Pacer
from scheduler.courier import Courier
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.max_stub import TOKEN, StubMaxAPI, user
from tests.people import LEAD, lead

CHAT = -72001
IVAN = user(4201, "Иван", "Петров")
PETR = user(4202, "Пётр")


@pytest.fixture
async def max_api():
    server = StubMaxAPI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def room(stub, max_api, db):
    clock = FrozenClock()
    settings = load_settings(make_env(stub.url, db, MAX_BOT_TOKEN=TOKEN, MAX_API_URL=max_api.url))
    await people.ensure_leads(settings.lead_ids, clock.now())
    desk = Desk(stub, settings, clock)
    desk.max_bot = build_max_bot(settings)
    # The outbox sends by MAX too: the chat-room layer's answers are owed through it (`chatroom.owe_answers`).
    channels = build_channels(desk.bot, settings, clock, Pacer(per_second=float("inf"), private_gap=0, group_gap=0,
                                                               monotonic=lambda: clock.now().timestamp()))
    channels.register(MaxChannel(desk.max_bot, clock, settings, Pacer(
        per_second=float("inf"), private_gap=0, group_gap=0, monotonic=lambda: clock.now().timestamp())))
    desk.outbox = Courier(channels, clock, settings)
    desk.handle = make_handle(desk.max_bot, desk.dp["desk"])
    await desk.say(LEAD, lead, "/customer_add ACME premium Acme")
    yield desk
    await desk.max_bot.close_session()
    if desk.bot.session._session is not None:
        await desk.bot.session._session.close()


async def arrive(desk, raw: dict) -> None:
    """MAX sends an update: it is handled in its transaction, then its answers are written."""
    follow_up = await handle_once(read(raw), desk.handle, desk.clock)
    if follow_up is not None:
        await follow_up()
    await desk.flush()  # the answers owed through the outbox


async def bind(desk, max_api) -> Conversation:
    await desk.say(LEAD, lead, "/invite ACME max")
    code = re.search(r"^([A-Za-z0-9_-]{16,64})$", desk.last_reply(LEAD), re.MULTILINE)[1]
    max_api.titles[CHAT] = "Acme · поддержка"
    await arrive(desk, max_api.message(CHAT, IVAN, code, "mid.code"))
    return await Conversation.get(channel="max", ref=str(CHAT))


async def test_a_code_binds_the_chat_under_its_title_and_the_chat_is_told(room, max_api):
    conversation = await bind(room, max_api)
    assert conversation.customer_id is not None and conversation.title == "Acme · поддержка"
    [told] = max_api.sent()
    assert told.query == {"chat_id": str(CHAT)} and "ACME" in told.body["text"]


async def test_an_unbound_chat_goes_to_the_inbox_and_is_told_once(room, max_api):
    await arrive(room, max_api.message(CHAT, PETR, "Здравствуйте", "mid.s1"))
    await arrive(room, max_api.message(CHAT, PETR, "Есть кто?", "mid.s2"))
    assert await UnboundMessage.filter(ref__in=("mid.s1", "mid.s2")).count() == 2
    assert len(max_api.sent()) == 1  # at most hourly


async def test_a_message_with_a_file_opens_an_incident_and_a_reply_joins_it(room, max_api):
    await bind(room, max_api)
    await arrive(room, max_api.message(CHAT, IVAN, "Не открывается отчёт", "mid.p1", attachments=[
        {"type": "file", "payload": {"url": "https://files.max.ru/1", "token": "t"}, "filename": "err.log",
         "size": 2048}]))
    incident = await Incident.get(key="ACME-1")
    first = await IncidentMessage.get(incident=incident, ref="mid.p1")
    assert (first.author, first.attachments) == ("Иван Петров", [{"kind": "document", "name": "err.log",
                                                                   "size": "2048"}])
    assert await Outbox.filter(kind="ack", channel="max", incident=incident).count() == 1
    # /new opens another; a reply to the first message still joins ACME-1.
    await arrive(room, max_api.message(CHAT, IVAN, "/new Второй вопрос", "mid.p2"))
    await arrive(room, max_api.message(CHAT, IVAN, "Вот ещё журнал", "mid.p3", reply_to="mid.p1"))
    assert await IncidentMessage.filter(incident=incident, source="customer").count() == 2
    assert await Incident.filter(key="ACME-2").exists()


async def test_the_same_update_twice_is_handled_once(room, max_api):
    await bind(room, max_api)
    update = max_api.message(CHAT, IVAN, "Сервер недоступен", "mid.twice")
    await arrive(room, update)
    await arrive(room, update)
    assert await Incident.all().count() == 1 and await Outbox.filter(kind="ack").count() == 1


async def test_a_pressed_button_answers_the_press_and_the_chat(room, max_api):
    await bind(room, max_api)
    await arrive(room, max_api.message(CHAT, IVAN, "Сервер недоступен", "mid.b1"))
    incident = await Incident.get(key="ACME-1")
    mark = max_api.mark()
    message = max_api.message(CHAT, IVAN, "ack", "mid.ack")["message"]
    await arrive(room, {"update_type": "message_callback", "timestamp": 1_760_000_000_000, "user_locale": "ru",
                        "callback": {"timestamp": 1_760_000_000_000, "callback_id": "cb-1",
                                     "payload": f"dd:prio:{incident.id}:P1", "user": IVAN}, "message": message})
    assert (await Incident.get(id=incident.id)).priority == "P1"
    answers = [c for c in max_api.calls[mark:] if c.method == "POST /answers"]
    assert answers and answers[0].query == {"callback_id": "cb-1"} and "P1" in answers[0].body["notification"]
    assert any("P1" in c.body["text"] for c in max_api.sent(mark))
    # Data the desk never made changes nothing and is answered.
    mark = max_api.mark()
    await arrive(room, {"update_type": "message_callback", "timestamp": 1_760_000_000_001, "user_locale": "ru",
                        "callback": {"timestamp": 1_760_000_000_001, "callback_id": "cb-2",
                                     "payload": f"dd:prio:{incident.id}:P9", "user": IVAN}, "message": message})
    assert (await Incident.get(id=incident.id)).priority == "P1"
    assert len(max_api.sent(mark)) == 1


async def test_an_edit_corrects_the_stored_text_and_title(room, max_api):
    await bind(room, max_api)
    await arrive(room, max_api.message(CHAT, IVAN, "привет", "mid.e1"))
    edited = max_api.message(CHAT, IVAN, "Не работает вход в систему", "mid.e1")
    edited["update_type"] = "message_edited"
    await arrive(room, edited)
    assert (await Incident.get(key="ACME-1")).title == "Не работает вход в систему"


async def test_a_private_dialog_is_told_where_the_desk_listens_at_most_hourly(room, max_api):
    await arrive(room, max_api.message(IVAN["user_id"], IVAN, "Здравствуйте", "mid.d1", chat_type="dialog"))
    await arrive(room, max_api.message(IVAN["user_id"], IVAN, "Алло", "mid.d2", chat_type="dialog"))
    rows = await Outbox.filter(channel="max", kind="notice")
    assert len(rows) == 1 and rows[0].person_id is not None and rows[0].params["say"] == "max.dialog"
    assert not await UnboundMessage.exists() and not await Incident.exists()


async def test_staff_link_their_max_account_in_a_dialog_and_then_answer_in_the_chat(room, max_api):
    from datetime import timedelta

    from tests.people import ENGINEER, engineer
    await bind(room, max_api)
    await people.register_staff(ENGINEER, "engineer", LEAD, room.clock.now())
    await room.say(ENGINEER, engineer, "/link max")
    code = re.search(r"^([A-Za-z0-9_-]{16,64})$", room.last_reply(ENGINEER), re.MULTILINE)[1]
    boris = user(4299, "Борис")
    mark = max_api.mark()
    await arrive(room, max_api.message(boris["user_id"], boris, code, "mid.link", chat_type="dialog"))
    assert any("linked" in c.body["text"] for c in max_api.sent(mark))  # told in the dialog
    assert not await Outbox.filter(channel="max", kind="notice").exists()  # not the "where the desk listens" word
    await arrive(room, max_api.message(CHAT, IVAN, "Сервер недоступен", "mid.l1"))
    room.clock.advance(timedelta(minutes=3))
    await arrive(room, max_api.message(CHAT, boris, "Смотрим", "mid.l2", reply_to="mid.l1"))
    incident = await Incident.get(key="ACME-1")
    assert incident.responded_by == ENGINEER and await Incident.all().count() == 1


def callback(callback_id: str, payload, message: dict | None, lang: str = "en", who: dict = IVAN) -> dict:
    raw = {"update_type": "message_callback", "timestamp": 1_760_000_000_000, "user_locale": lang,
           "callback": {"timestamp": 1_760_000_000_000, "callback_id": callback_id, "payload": payload, "user": who}}
    if message is not None:
        raw["message"] = message
    return raw


async def answered(max_api, mark: int, callback_id: str) -> str:
    [answer] = [c for c in max_api.calls[mark:] if c.method == "POST /answers" and c.query == {
        "callback_id": callback_id}]
    return answer.body["notification"]


async def opened_with_ack(room, max_api) -> tuple[Incident, dict]:
    conversation = await bind(room, max_api)
    conversation.lang = "en"
    await conversation.save()
    await arrive(room, max_api.message(CHAT, IVAN, "Server is down", "mid.g1"))
    return await Incident.get(key="ACME-1"), max_api.message(CHAT, IVAN, "ack", "mid.ack")["message"]


async def unchanged(incident: Incident, rows: int) -> bool:
    """Nothing changed and nothing is owed but the press's own answer in the chat (`chatroom.owe_answers`)."""
    again = await Incident.get(id=incident.id)
    return (again.priority, again.rating, again.status) == (incident.priority, incident.rating, incident.status) \
        and await owed() == rows


async def owed() -> int:
    """The rows owed besides the chat's direct answers."""
    return await Outbox.exclude(kind="answer").count()


async def test_a_press_on_a_message_that_is_gone_is_answered_and_changes_nothing(room, max_api):
    incident, _ = await opened_with_ack(room, max_api)
    rows, mark = await owed(), max_api.mark()
    # MAX sends the press without its message when the message was deleted meanwhile.
    await arrive(room, callback("cb-gone", f"dd:prio:{incident.id}:P1", None, lang="ru"))
    assert await answered(max_api, mark, "cb-gone") == "Сообщения с этой кнопкой больше нет, поэтому ничего не изменено."
    assert await unchanged(incident, rows) and not max_api.sent(mark)


async def test_a_press_naming_an_incident_that_is_gone_is_answered_in_the_chats_language(room, max_api):
    incident, message = await opened_with_ack(room, max_api)
    rows, mark = await owed(), max_api.mark()
    await arrive(room, callback("cb-none", "dd:prio:999999:P1", message, lang="ru"))
    notice = await answered(max_api, mark, "cb-none")
    assert notice == "This button belongs to an incident that no longer exists here."
    assert await unchanged(incident, rows)


@pytest.mark.parametrize("payload", [
    "x" * 200_000, "dd:prio:99999999999999999:P1", "dd:rate:1:9", "", None, 42, {"dd": "prio"}, ["dd:prio:1:P1"]])
async def test_a_garbage_or_oversized_payload_is_answered_and_changes_nothing(room, max_api, payload):
    incident, message = await opened_with_ack(room, max_api)
    rows, mark = await owed(), max_api.mark()
    await arrive(room, callback("cb-bad", payload, message))
    assert await answered(max_api, mark, "cb-bad") == "This button is not valid any more."
    assert await unchanged(incident, rows)


async def test_a_press_in_a_private_dialog_is_answered_and_changes_nothing(room, max_api):
    incident, _ = await opened_with_ack(room, max_api)
    rows, mark = await owed(), max_api.mark()
    dialog = max_api.message(IVAN["user_id"], IVAN, "hi", "mid.dlg", chat_type="dialog")["message"]
    await arrive(room, callback("cb-dlg", f"dd:prio:{incident.id}:P1", dialog))
    assert await answered(max_api, mark, "cb-dlg") == "The message with this button is gone, so nothing was changed."
    assert await unchanged(incident, rows)


async def test_a_set_aside_update_tells_each_lead_once_naming_the_chat_and_answers_its_press(room, max_api):
    from domain.models import ParkedUpdate
    from domain.updates import channel_key
    from handlers.max.room import make_on_set_aside
    from handlers.max.transport import set_aside
    from handlers.max.updates import NAME

    incident, message = await opened_with_ack(room, max_api)
    on_set_aside = make_on_set_aside(room.max_bot, room.dp["desk"])
    raw = callback("cb-poison", f"dd:prio:{incident.id}:P1", message)
    update = read(raw)
    mark = max_api.mark()
    follow_up = await set_aside(raw, update, channel_key(NAME, update.key), "failing", "ValueError: refused",
                                room.clock, on_set_aside)
    await follow_up()
    assert await answered(max_api, mark, "cb-poison") == \
        "This could not be done, and support has been told. Nothing was changed."
    [row] = await ParkedUpdate.all()
    notices = [n for n in await Outbox.filter(kind="notice") if n.params.get("say") == "gapsm.max_set_aside"]
    assert [n.person_id for n in notices] == [LEAD]
    args = notices[0].params["args"]
    assert args["chat"] == "ACME — Acme (Acme · поддержка)" and args["id"] == row.id
    assert args["reason"] == {"t": "liveness.reason_failing"} and args["error"] == "ValueError: refused"
    # Kept once: the same update set aside again tells nobody twice.
    await set_aside(raw, update, channel_key(NAME, update.key), "failing", "ValueError: refused", room.clock,
                    on_set_aside)
    assert await ParkedUpdate.all().count() == 1
    assert [n.params.get("say") for n in await Outbox.filter(kind="notice")].count("gapsm.max_set_aside") == 1
    # A lead cannot replay it through Telegram's dispatcher: told so, and it stays parked.
    await room.say(LEAD, lead, f"/replay {row.id}")
    replies = room.replies(LEAD)
    assert f"Parked update #{row.id} came from MAX and cannot be handled again from here; " \
        f"/dismiss {row.id} once it is dealt with." in replies
    assert any(r.startswith("⚠️ A MAX update could not be taken in and is set aside") and
               "Chat: ACME — Acme (Acme · поддержка)" in r and f"payload dd:prio:{incident.id}:P1" in r
               for r in replies)  # the notice, in the lead's language
    assert (await ParkedUpdate.get(id=row.id)).status == "parked"


async def test_a_press_maxapi_cannot_read_at_all_is_answered_and_changes_nothing(room, max_api):
    incident, message = await opened_with_ack(room, max_api)
    rows, mark = await owed(), max_api.mark()
    await arrive(room, callback("cb-odd", {"nested": ["x" * 5000]}, message, who={"user_id": "nobody"}))
    assert await answered(max_api, mark, "cb-odd") == "This button is not valid any more."
    assert await unchanged(incident, rows)
