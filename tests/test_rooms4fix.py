"""What the fourth attack on eXpress and MAX found, fixed: the rule every channel's text shares (half an emoji),
and its Telegram and mail paths."""

import asyncio
import base64
import json

from domain.models import Incident, IncidentMessage, ParkedUpdate, Person
from domain.text import clean, shown, storable
from handlers.email.parser import parse_mail
from locales import t
from tests import fixtures
from tests import test_max_room as max_base
from tests.people import GROUP, customer

acme = fixtures.acme  # its fixture
room, max_api = max_base.room, max_base.max_api



def test_half_an_emoji_becomes_a_replacement_character_and_a_whole_one_stays():
    assert clean("down \ud83d") == "down \ufffd"
    assert clean("\ude00 and \ud83d\ude00") == "\ufffd and 😀"  # two halves in order are one emoji
    assert clean("a\x00b") == "a\ufffdb"  # NUL as before
    assert shown("Anna\ud83d \u202e") == "Anna\ufffd "
    assert storable({"k\ud83d": ["v\udc00", 1]}) == {"k\ufffd": ["v\ufffd", 1]}
    assert clean("Всё хорошо 🙂") == "Всё хорошо 🙂"


def test_a_mail_in_utf7_with_half_an_emoji_is_storable():
    # UTF-7 spells a lone surrogate (`+2D0-`): the body, the subject and the sender's name all can hold one.
    def word(text: bytes) -> bytes:
        return b"=?utf-7?B?" + base64.b64encode(text) + b"?="
    raw = (b"From: " + word(b"Anna+2D0-") + b" <anna@acme.ru>\r\nSubject: " + word(b"Down +2D0-") +
           b"\r\nMessage-ID: <u7@acme.ru>\r\nContent-Type: text/plain; charset=utf-7\r\n\r\nThe mail is down +2D0-")
    parsed = parse_mail(raw)
    for value in (parsed.text, parsed.fresh, parsed.subject, parsed.sender_name):
        value.encode()  # no lone surrogate left: it would fail here
    assert parsed.text == "The mail is down \ufffd" and parsed.sender_name == "Anna\ufffd"


async def test_a_telegram_message_with_half_an_emoji_is_taken_in(acme):
    # aiogram reads Telegram's JSON, where `\ud83d` alone is valid.
    when = int(acme.clock.now().timestamp())
    update = json.loads(f'{{"message": {{"message_id": 7001, "date": {when}, "chat": {{"id": {GROUP}, '
                        f'"type": "supergroup", "title": "Acme \\ud83d"}}, "from": {{"id": {customer["id"]}, '
                        f'"is_bot": false, "first_name": "Kat\\ud83d"}}, "text": "The server is down \\ud83d"}}}}')
    await acme.feed(update)
    incident = await Incident.get(key="ACME-1")
    assert await IncidentMessage.filter(incident=incident, text="The server is down \ufffd").exists()
    assert "\ufffd" in (await Person.get(id=customer["id"])).full_name


async def test_a_max_update_with_half_an_emoji_the_reader_refuses_is_set_aside(room, max_api):
    from handlers.max.room import make_on_set_aside
    from handlers.max.transport import MaxPoller
    await max_base.bind(room, max_api)
    raw = max_api.message(max_base.CHAT, max_base.IVAN, "Сервер лежит \ud83d", "mid.half\ud83d",
                          attachments=[{"type": "image", "payload": "no object"}])  # a kind maxapi knows, unreadable
    stopping = asyncio.Event()
    poller = MaxPoller(room.max_bot, room.handle, room.clock, stopping, backoff=0.01,
                       on_set_aside=make_on_set_aside(room.max_bot, room.dp["desk"]))
    taking = asyncio.create_task(poller.take(raw))
    for _ in range(400):  # set aside at once; a failing one is retried until the stop
        if taking.done():
            break
        await asyncio.sleep(0.01)
    stopping.set()
    assert await taking
    [kept] = await ParkedUpdate.filter(channel="max")
    assert "Сервер лежит \ufffd" in kept.payload


# ---- a chat the bot is put back in (the rule of Telegram's `my_chat_member`: `customers.set_reachable`) ----

async def test_max_bot_added_alone_makes_the_chat_reachable_and_the_leads_hear_it_once(room, max_api):
    from domain import customers
    from tests.people import LEAD
    await max_base.bind(room, max_api)
    await customers.set_reachable("max", str(max_base.CHAT), False, room.clock.now(), _nothing)
    added = {"update_type": "bot_added", "timestamp": 1_760_000_100_000, "chat_id": max_base.CHAT,
             "user": max_base.IVAN, "is_channel": False}
    mark = room.stub.mark()
    await max_base.arrive(room, added)
    assert await customers.unreachable_since("max", str(max_base.CHAT)) is None
    await max_base.arrive(room, {**added, "timestamp": 1_760_000_200_000})  # again: nothing changes, nobody told
    back = [text for text in room.replies(LEAD, mark) if "back in the chat" in text]
    assert len(back) == 1, room.replies(LEAD, mark)


async def _nothing(chat) -> None:
    return None


async def test_a_message_from_a_chat_marked_unreachable_makes_it_reachable(room, max_api):
    from domain import customers
    await max_base.bind(room, max_api)
    await customers.set_reachable("max", str(max_base.CHAT), False, room.clock.now(), _nothing)
    await max_base.arrive(room, max_api.message(max_base.CHAT, max_base.IVAN, "Сервер недоступен", "mid.back"))
    assert await customers.unreachable_since("max", str(max_base.CHAT)) is None


# ---- a MAX dialog in the person's app language ----

async def test_a_max_person_app_language_is_theirs_and_a_telegram_users_stays_telegrams(db):
    from datetime import UTC, datetime

    from domain import people
    from domain.identities import person_for
    from domain.lang import of_person_row
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    max_only = await person_for("max", "4201", now, "Иван")
    await people.app_lang_elsewhere(max_only, "ru")
    assert of_person_row(await Person.get(id=max_only.id), "en") == "ru"
    await people.app_lang_elsewhere(max_only, None)  # an update without a locale keeps the one remembered
    assert of_person_row(await Person.get(id=max_only.id), "en") == "ru"
    telegram_user = await people.seen(5001, "boris", "Boris", now, "en")
    await people.app_lang_elsewhere(telegram_user, "ru")  # linked in MAX, Telegram's app language stays
    assert of_person_row(await Person.get(id=5001), "ru") == "en"


# ---- a link code is redeemed only in a private dialog ----

async def test_a_link_code_in_a_group_chat_bound_to_nobody_is_burnt_and_links_nobody(room, max_api):
    import re

    from domain import people
    from domain.identities import person_for
    from domain.models import Invitation, UnboundMessage
    from tests.people import ENGINEER, LEAD, engineer
    await people.register_staff(ENGINEER, "engineer", LEAD, room.clock.now())
    await room.say(ENGINEER, engineer, "/link max")
    code = re.search(r"^([A-Za-z0-9_-]{16,64})$", room.last_reply(ENGINEER), re.MULTILINE)[1]
    boris = max_base.user(4299, "Борис")
    mark = max_api.mark()
    await max_base.arrive(room, max_api.message(-72999, boris, code, "mid.grp"))  # a group, bound to nobody
    assert (await person_for("max", str(boris["user_id"]), room.clock.now())).id != ENGINEER
    assert (await Invitation.get(kind="link")).burnt_at is not None
    assert [c.body["text"] for c in max_api.sent(mark)] == [t("en", "rooms4fix.link_in_group", channel="MAX")]
    assert not await UnboundMessage.exists()  # a secret: never a line in the unbound inbox
    await max_base.arrive(room, max_api.message(boris["user_id"], boris, code, "mid.dlg", chat_type="dialog"))
    assert (await person_for("max", str(boris["user_id"]), room.clock.now())).id != ENGINEER


# ---- a channel's refusal marks only that channel ----

async def test_max_refusing_a_staff_members_dialog_notice_leaves_their_telegram_dm_as_it_was(room, max_api):
    from domain import outbox, people
    from domain.identities import person_for
    from domain.models import Identity, Outbox
    from tests.people import ENGINEER, LEAD
    await people.register_staff(ENGINEER, "engineer", LEAD, room.clock.now())
    await people.mark_dm(ENGINEER, True, room.clock.now())
    await Identity.create(channel="max", ref="4299", person=await person_for("telegram", ENGINEER, room.clock.now()))
    await outbox.enqueue("notice", outbox.person(ENGINEER, channel="max"), room.clock.now(),
                         params=outbox.say("max.dialog"))
    await room.flush()  # 4299 never wrote to the bot: MAX refuses (403)
    assert await Outbox.filter(channel="max", status="failed").exists()
    assert (await Person.get(id=ENGINEER)).can_dm is True


# ---- a renamed chat's new name ----

async def test_a_renamed_max_chat_gets_its_new_name(room, max_api):
    from domain.models import Conversation
    chat = await max_base.bind(room, max_api)
    assert chat.title == "Acme · поддержка"
    await max_base.arrive(room, {"update_type": "chat_title_changed", "timestamp": 1_760_000_300_000,
                                 "chat_id": max_base.CHAT, "user": max_base.IVAN, "title": "Acme — 1С \u202eпоч\x00та"})
    assert (await Conversation.get(id=chat.id)).title == "Acme — 1С поч\ufffdта"  # shown as any title is
