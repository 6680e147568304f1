"""The words people read: each text in its reader's language (domain.lang), written as people write."""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.settings import load_settings
from domain import customers, lang, people
from domain.models import Rotation
from locales import t
from scheduler.jobs import Heartbeat, Tick
from tests.conftest import Desk, make_env
from tests.people import GROUP, LEAD, customer
from tests.stub_api import StubBotAPI
from tests.test_pings import run_until

MSK = ZoneInfo("Europe/Moscow")
EN_ENGINEER, RU_ENGINEER, RU_LEAD = 2101, 2102, 1102
en_engineer = StubBotAPI.user(EN_ENGINEER, "eng_emma", lang="en-GB")
ru_engineer = StubBotAPI.user(RU_ENGINEER, "eng_rita", lang="ru")
lead_en = StubBotAPI.user(LEAD, "lead_anna", lang="en")
ru_lead = StubBotAPI.user(RU_LEAD, "lead_roma", lang="ru")


@pytest.fixture
async def desk_ru(stub, db):
    """A desk whose DEFAULT_LANG is Russian: whoever reads English must be found out, not defaulted to."""
    from tests.conftest import FrozenClock
    clock = FrozenClock()
    settings = load_settings(make_env(stub.url, db, DEFAULT_LANG="ru"))
    await people.ensure_leads(settings.lead_ids, clock.now())
    desk = Desk(stub, settings, clock)
    yield desk
    if desk.bot.session._session is not None:
        await desk.bot.session._session.close()


def test_the_two_rules():
    assert lang.decide_person("ru", "en-US", "en") == "ru"  # /lang wins
    assert lang.decide_person(None, "en-US", "ru") == "en"  # else the Telegram app's language
    assert lang.decide_person(None, "de", "ru") == "ru"  # a language we do not write: the default
    assert lang.decide_person(None, None, "en") == "en"
    assert lang.decide_chat("en", "ru", "ru") == "en"
    assert lang.decide_chat(None, "en", "ru") == "en"
    assert lang.decide_chat(None, None, "en") == "en"


async def _staffed(desk, at: datetime):
    desk.clock.set(at)
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    desk.stub.chat(GROUP, "Acme")
    for user in (en_engineer, ru_engineer):
        await people.register_staff(user["id"], "engineer", LEAD, now)
    await people.register_staff(RU_LEAD, "lead", LEAD, now)
    for user in (en_engineer, ru_engineer, lead_en, ru_lead):  # each opens the bot once: /start in private
        await desk.say(user["id"], user, "/start")
    # Nobody on nights for now: the noon gap warning has something to say.
    await Rotation.create(shift="day", mode="daily", members=[EN_ENGINEER], anchor=date(2026, 3, 1), updated_at=now)
    desk.tick = Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat())
    return desk


FIRST, SECOND = "Всё упало", "Ещё одно: упал сервер лицензий"
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def reads(text: str, reader: str) -> bool:
    """The text (but for what the customer wrote) is in `reader`'s language: Cyrillic in Russian, none in English."""
    ours = text.replace(SECOND, "").replace(FIRST, "").replace(SECOND[:40], "")
    return bool(CYRILLIC.search(ours)) == (reader == "ru")


def _to(desk, user_id: int, since: int = 0) -> list[dict]:
    return [m for m in desk.stub.delivered[since:] if int(m["chat_id"]) == user_id]


async def test_each_engineer_reads_ping_buttons_handover_and_gap_warning_in_their_telegram_language(desk_ru):
    desk = await _staffed(desk_ru, datetime(2026, 3, 16, 9, 50, tzinfo=MSK))
    started = len(desk.stub.delivered)
    await desk.say(GROUP, customer, FIRST)  # before the day shift: leads are pinged (nobody on call)
    await run_until(desk, datetime(2026, 3, 16, 12, 1, tzinfo=MSK), step=timedelta(minutes=5))
    # Nights have nobody yet: the noon warning goes to each lead in their language.
    for user_id, reader in ((LEAD, "en"), (RU_LEAD, "ru")):
        (warning,) = [m for m in _to(desk, user_id, started) if "⚠" in m["text"]]
        assert reads(warning["text"], reader), warning["text"]
    await Rotation.create(shift="night", mode="daily", members=[RU_ENGINEER], anchor=date(2026, 3, 1),
                          updated_at=desk.clock.now())

    for user_id, reader, other, shift_start in ((EN_ENGINEER, "en", "ru", datetime(2026, 3, 16, 12, 5, tzinfo=MSK)),
                                                 (RU_ENGINEER, "ru", "en", datetime(2026, 3, 16, 19, 5, tzinfo=MSK))):
        await run_until(desk, shift_start, step=timedelta(minutes=5))
        (handover,) = [m for m in _to(desk, user_id, started) if "ACME-1" in m["text"] and not m.get("reply_markup")]
        assert reads(handover["text"], reader), handover["text"]
        since = len(desk.stub.delivered)
        await desk.say(GROUP, customer, "/new " + SECOND)
        (ping,) = [m for m in _to(desk, user_id, since) if m.get("reply_markup")]
        take = ping["reply_markup"]["inline_keyboard"][0][0]["text"]
        assert take == t(reader, "ping.take") != t(other, "ping.take")
        assert reads(ping["text"], reader), ping["text"]


async def test_every_copy_of_the_ping_is_edited_after_take(desk_ru):
    """Both copies (the on-call engineer's and the premium customer's dedicated engineer's) say who took it
    and since when, in each reader's language, and lose the Take button; the Open chat link stays."""
    desk = await _staffed(desk_ru, datetime(2026, 3, 16, 11, 0, tzinfo=MSK))
    await customers.set_field("ACME", "engineer", str(RU_ENGINEER), desk.dp["desk"].sla, desk.clock.now())
    await desk.say(GROUP, customer, FIRST)
    copies = {int(m["chat_id"]): m for m in desk.stub.delivered if m.get("reply_markup") and int(m["chat_id"]) > 0}
    assert set(copies) == {EN_ENGINEER, RU_ENGINEER}
    take = copies[RU_ENGINEER]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    pressed = {"message_id": copies[RU_ENGINEER]["message_id"], "date": 0, "chat": desk.stub.chats[RU_ENGINEER],
               "text": copies[RU_ENGINEER]["text"]}
    desk.clock.advance(timedelta(minutes=3))
    mark = desk.stub.mark()
    await desk.press(pressed, ru_engineer, take)

    edits = {int(c.params["chat_id"]): c.params for c in desk.stub.find("editMessageText", mark)}
    assert set(edits) == {EN_ENGINEER, RU_ENGINEER}
    for user_id, words in ((EN_ENGINEER, "✅ Taken by User2102 (@eng_rita), today 11:03 MSK."),
                           (RU_ENGINEER, "✅ Взял User2102 (@eng_rita), сегодня 11:03 МСК.")):
        edit = edits[user_id]
        assert int(edit["message_id"]) == copies[user_id]["message_id"]
        original = copies[user_id]["text"].split("\n")
        assert edit["text"].split("\n")[:-1] == original[:-1] and edit["text"].endswith(words)  # Take's hint goes
        buttons = [b for row in (edit.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        assert all("url" in b for b in buttons), buttons  # no Take left on any copy
    # Pressed again (a stale copy, or twice): nothing is edited twice.
    mark = desk.stub.mark()
    await desk.press(pressed, ru_engineer, take)
    assert desk.stub.find("editMessageText", mark) == []
