"""The four layouts of issue 17 as their readers see them, in Russian and in English, through the real
handlers: the customer's acknowledgement, the on-call ping (and its reminder and breach), `/incidents`
for a lead, the handover and the gap warning.

What is asserted is the order of the parts (line indexes) and their presence (the values a reader looks
for), never a whole string, so the wording can improve without breaking these tests. Catalog texts are
looked up with `t()` where a line is identified by its words."""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import customers, people
from domain.models import Override, Rotation
from locales import t
from scheduler.jobs import Heartbeat, Tick
from tests.people import ENGINEER, GROUP, LEAD, OTHER_GROUP
from tests.stub_api import StubBotAPI
from tests.test_pings import run_until

MSK = ZoneInfo("Europe/Moscow")
YEKT = "Asia/Yekaterinburg"  # МСК+2: the customer's time differs from the desk's
NIGHT_ENGINEER = 2010
AUTHOR = "User3003"  # how the stub names the customer (first name), the name a ping quotes
LANGS = pytest.mark.parametrize("lang", ["ru", "en"])
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)
WORDS = {"ru": ("Всё упало, сервер лицензий недоступен", "Ещё логи", "И ещё скриншот"),
         "en": ("Everything is down, the license server is unavailable", "More logs", "And a screenshot")}


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MSK)


def user(user_id: int, username: str, lang: str) -> dict:
    return StubBotAPI.user(user_id, username, lang=lang)


def index(lines: list[str], *needles: str) -> int:
    """The first line holding every needle; fails, naming them, when there is none."""
    for n, line in enumerate(lines):
        if all(needle in line for needle in needles):
            return n
    raise AssertionError(f"no line holds {needles!r}:\n" + "\n".join(lines))


def only(messages: list[dict]) -> dict:
    assert len(messages) == 1, [m["text"] for m in messages]
    return messages[0]


def to(desk, chat_id: int, since: int = 0) -> list[dict]:
    return [m for m in desk.stub.delivered[since:] if int(m["chat_id"]) == chat_id]


def in_language(text: str, lang: str, quoted: tuple[str, ...] = ()) -> bool:
    """Our words (the customer's quoted ones aside) are Cyrillic in Russian and Latin in English."""
    for words in quoted:
        text = text.replace(words, "")
    return bool(CYRILLIC.search(text)) == (lang == "ru")


@pytest.fixture
async def desk_in(desk):
    """A desk whose customer ACME («Acme Corp», in Yekaterinburg) and staff read `lang`."""
    async def make(lang: str, plan: str, at: datetime, night: list[int] | None = None):
        desk.clock.set(at)
        now = desk.clock.now()
        sla = desk.dp["desk"].sla
        await customers.add_customer("ACME", plan, "Acme Corp", now)
        await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
        await customers.set_field("ACME", "lang", lang, sla, now)
        await customers.set_field("ACME", "tz", ZoneInfo(YEKT), sla, now)
        desk.stub.chat(GROUP, "Acme")
        for user_id, name in ((ENGINEER, "eng_boris"), (NIGHT_ENGINEER, "night_nina")):
            await people.register_staff(user_id, "engineer", LEAD, now)
            await people.seen(user_id, name, name.split("_")[1].title(), now, telegram_lang=lang)
        await people.seen(LEAD, "lead_anna", "Anna", now, telegram_lang=lang)
        await Rotation.create(shift="day", mode="daily", members=[ENGINEER], anchor=date(2026, 3, 1), updated_at=now)
        await Rotation.create(shift="night", mode="daily", members=night if night is not None else [NIGHT_ENGINEER],
                              anchor=date(2026, 3, 1), updated_at=now)
        desk.tick = Tick(desk.settings, desk.clock, sla, Heartbeat())
        desk.customer = user(3003, "client_cat", lang)
        return desk
    return make


# ---- 1. The acknowledgement ------------------------------------------------------------------------------
@LANGS
async def test_acknowledgement_says_what_how_urgent_by_when_in_the_customers_time_where_and_the_buttons(desk_in,
                                                                                                        lang):
    desk = await desk_in(lang, "premium", msk(2026, 3, 16, 12, 0))
    await desk.say(GROUP, desk.customer, WORDS[lang][0])
    ack = only([m for m in to(desk, GROUP) if m.get("reply_markup")])
    lines = ack["text"].split("\n")
    assert in_language(ack["text"], lang), ack["text"]

    received = index(lines, "ACME-1")  # what we received
    urgent = index(lines, "P1", t(lang, "priority.P1"))  # how urgent, with what P1 means
    # By when, in the customer's time (12:15 МСК is 14:15 МСК+2 in Yekaterinburg) and the fixed target.
    by_when = index(lines, "14:15", "+2", t(lang, "words.unit.min", count=15))
    assert "12:15" not in ack["text"]
    details = index(lines, t(lang, "words.ack.details"))  # where to add details
    buttons_hint = index(lines, t(lang, "words.ack.buttons"))
    assert received == 0 and received < urgent < by_when < details < buttons_hint, lines

    # The buttons say what P1–P4 mean, in order, in the customer's language.
    buttons = [b["text"] for row in ack["reply_markup"]["inline_keyboard"] for b in row]
    assert [b[:2] for b in buttons] == ["P1", "P2", "P3", "P4"], buttons
    assert all(len(b) > len("P1 · ") and in_language(b, lang) for b in buttons), buttons
    assert len(set(b[2:] for b in buttons)) == 4, buttons  # each a meaning of its own
    assert ack.get("reply_parameters") or ack.get("reply_to_message_id"), ack  # it answers the customer's message


@LANGS
async def test_acknowledgement_at_night_on_8x5_says_when_the_clock_starts_and_when_we_answer(desk_in, lang):
    """02:00 МСК on a Monday (04:00 in Yekaterinburg): the clock starts at 10:00 МСК = 12:00 МСК+2, the
    answer is due one working hour later, 13:00 МСК+2."""
    desk = await desk_in(lang, "8x5", msk(2026, 3, 16, 2, 0))
    await desk.say(GROUP, desk.customer, WORDS[lang][0])
    ack = only([m for m in to(desk, GROUP) if m.get("reply_markup")])
    lines = ack["text"].split("\n")

    urgent = index(lines, "P1", t(lang, "priority.P1"))
    starts = index(lines, "12:00", "+2")
    answer = index(lines, "13:00", "+2", t(lang, "words.unit.h", count=1))
    assert index(lines, "ACME-1") == 0 and urgent < starts < answer < index(lines, t(lang, "words.ack.details"))
    today = t(lang, "words.day.1")
    assert today in lines[starts] and today in lines[answer], lines  # today, not a bare time
    assert "10:00" not in ack["text"] and "11:00" not in ack["text"]  # not the desk's time


@LANGS
async def test_acknowledgement_on_friday_night_names_the_day_the_clock_starts(desk_in, lang):
    desk = await desk_in(lang, "8x5", msk(2026, 3, 20, 22, 0))  # Friday; the clock starts Monday 23.03
    await desk.say(GROUP, desk.customer, WORDS[lang][0])
    lines = only([m for m in to(desk, GROUP) if m.get("reply_markup")])["text"].split("\n")
    monday = t(lang, "words.weekday.0")
    starts, answer = index(lines, monday, "23.03", "12:00"), index(lines, monday, "23.03", "13:00")
    assert index(lines, "P1") < starts < answer, lines


# ---- 2. The on-call ping, its reminder and its breach -----------------------------------------------------
def parts(lang: str, text: str, target: str, deadline: str, problem: str) -> dict[str, int]:
    """Where each part of a ping is: how bad (the priority) → whose (the customer) → by when → what → who
    wrote it → what Take does."""
    lines = text.split("\n")
    head = lines[0]
    assert "ACME-1" in head and head.index("P1") < head.index("Acme Corp"), head  # how bad, then whose
    return {"when": index(lines, deadline, target), "what": index(lines, problem),
            "who": index(lines, AUTHOR), "take": index(lines, t(lang, "words.ping.take_hint"))}


@LANGS
async def test_ping_reminder_and_breach_read_how_bad_whose_by_when_what_who_and_what_take_does(desk_in, lang):
    desk = await desk_in(lang, "premium", msk(2026, 3, 16, 2, 0))
    first, *more = WORDS[lang]
    await desk.say(GROUP, desk.customer, first)
    target = t(lang, "words.unit.min", count=15)
    new = only([m for m in to(desk, NIGHT_ENGINEER) if m["text"].startswith("🆕")])
    layout = parts(lang, new["text"], target, "02:15", first)
    assert list(layout.values()) == sorted(layout.values()) and len(set(layout.values())) == 4, layout
    assert in_language(new["text"], lang, (first,)), new["text"]
    assert new["reply_markup"]["inline_keyboard"][0][0]["text"] == t(lang, "ping.take")
    # Staff read the desk's time (МСК), not the customer's: 02:15, not 04:15.
    assert "04:15" not in new["text"]
    new_who = new["text"].split("\n")[layout["who"]]
    assert not re.search(r"\d", new_who.replace(AUTHOR, "")), new_who  # nobody wrote more yet

    for words in more:  # two more messages follow before the reminder
        desk.clock.advance(timedelta(minutes=1))
        await desk.say(GROUP, desk.customer, words)
    await run_until(desk, msk(2026, 3, 16, 2, 15, 15))
    reminder = only([m for m in to(desk, NIGHT_ENGINEER) if m["text"].startswith("⏰")])
    breach = only([m for m in to(desk, NIGHT_ENGINEER) if m["text"].startswith("🚨")])
    heads = {new["text"].split("\n")[0], reminder["text"].split("\n")[0], breach["text"].split("\n")[0]}
    assert len(heads) == 3, heads  # a different first line each
    for ping in (reminder, breach):
        assert parts(lang, ping["text"], target, "02:15", first) == layout, ping["text"]  # the same layout
        who = ping["text"].split("\n")[layout["who"]]
        assert re.findall(r"\d+", who.replace(AUTHOR, "")) == ["2"], who  # how many messages followed
        assert ping["reply_markup"]["inline_keyboard"][0][0]["text"] == t(lang, "ping.take")
    # The reminder says when the answer is due, the breach when it was due: not the same words.
    when = layout["when"]
    assert reminder["text"].split("\n")[when] != breach["text"].split("\n")[when]


@LANGS
async def test_after_take_every_copy_new_reminder_and_breach_says_who_has_it(desk_in, lang):
    """The night engineer's three pings and the lead's breach copy: each keeps its layout, trades what Take
    does for who took it and when, and loses its Take button."""
    desk = await desk_in(lang, "premium", msk(2026, 3, 16, 2, 0))
    await desk.say(GROUP, desk.customer, WORDS[lang][0])
    await run_until(desk, msk(2026, 3, 16, 2, 15, 15))
    copies = [m for m in desk.stub.delivered if m.get("reply_markup") and int(m["chat_id"]) > 0]
    assert sorted((int(m["chat_id"]), m["text"][0]) for m in copies) == sorted(
        [(NIGHT_ENGINEER, "🆕"), (NIGHT_ENGINEER, "⏰"), (NIGHT_ENGINEER, "🚨"), (LEAD, "🚨")]), copies
    breach = next(m for m in copies if int(m["chat_id"]) == NIGHT_ENGINEER and m["text"].startswith("🚨"))
    pressed = {"message_id": breach["message_id"], "date": 0, "chat": {"id": NIGHT_ENGINEER, "type": "private"},
               "text": breach["text"]}
    desk.clock.set(msk(2026, 3, 16, 2, 20))
    mark = desk.stub.mark()
    await desk.press(pressed, user(NIGHT_ENGINEER, "night_nina", lang),
                     breach["reply_markup"]["inline_keyboard"][0][0]["callback_data"])

    edits = {(int(c.params["chat_id"]), int(c.params["message_id"])): c.params
             for c in desk.stub.find("editMessageText", mark)}
    assert set(edits) == {(int(m["chat_id"]), m["message_id"]) for m in copies}, edits
    hint = t(lang, "words.ping.take_hint")
    for copy in copies:
        edited = edits[(int(copy["chat_id"]), copy["message_id"])]["text"].split("\n")
        before = copy["text"].split("\n")
        assert edited[0] == before[0], edited  # still a new ping, a reminder or a breach
        taken = index(edited, "night_nina", "02:20")  # who has it, since when
        assert taken == len(edited) - 1 and hint not in edited, edited  # in place of what Take does
        assert index(edited, WORDS[lang][0]) < taken and in_language("\n".join(edited), lang, (WORDS[lang][0],))
        markup = edits[(int(copy["chat_id"]), copy["message_id"])].get("reply_markup") or {}
        assert all("url" in b for row in markup.get("inline_keyboard", []) for b in row), markup  # no Take


# ---- 3. /incidents for a lead ------------------------------------------------------------------------------
@LANGS
async def test_incidents_for_a_lead_totals_then_unanswered_by_time_left_then_in_progress(desk_in, lang):
    desk = await desk_in(lang, "premium", msk(2026, 3, 16, 12, 0))
    now = desk.clock.now()
    await customers.add_customer("GLOBEX", "24x7", "Globex Ltd", now)
    await customers.bind_by_code("GLOBEX", "telegram", str(OTHER_GROUP), "Globex", "supergroup", LEAD, now)
    desk.stub.chat(OTHER_GROUP, "Globex")
    await desk.say(OTHER_GROUP, desk.customer, "Вопрос по отчёту" if lang == "ru" else "A question on a report")
    desk.clock.advance(timedelta(minutes=5))  # 12:05: ACME-1 is due 12:20, before GLOBEX-1 (13:00)
    await desk.say(GROUP, desk.customer, WORDS[lang][0])
    await desk.say(GROUP, desk.customer, "/new " + WORDS[lang][1])  # ACME-2, taken below
    engineer = user(ENGINEER, "eng_boris", lang)
    await desk.say(ENGINEER, engineer, "/take ACME-2")
    desk.clock.set(msk(2026, 3, 16, 12, 30))  # ACME-1 overdue by 10 min, GLOBEX-1 has 30 min left

    await desk.say(LEAD, user(LEAD, "lead_anna", lang), "/incidents")
    text = desk.last_reply(LEAD)
    lines = text.split("\n")
    assert in_language(text, lang, WORDS[lang]), text
    assert re.findall(r"\d+", lines[0]) == ["3", "1", "2"], lines[0]  # open, breached, unanswered: first
    waiting = index(lines, t(lang, "words.list.waiting"))
    late, early = index(lines, "ACME-1"), index(lines, "GLOBEX-1")
    progress = index(lines, t(lang, "words.list.in_progress"))
    taken = index(lines, "ACME-2")
    assert 0 < waiting < late < early < progress < taken, lines  # by time left, not by when opened
    assert "Acme Corp" in lines[late] and "Globex Ltd" in lines[early], lines  # the customer's name
    assert t(lang, "words.unit.min", count=10) in lines[late] and t(lang, "words.unit.min", count=30) in lines[early]
    assert "12:20" in lines[late] and "13:00" in lines[early], lines  # the deadline (desk's time) too
    assert "Acme Corp" in lines[taken] and "eng_boris" in lines[taken], lines  # in progress, with its assignee


# ---- 4. The handover and the gap warning -----------------------------------------------------------------------
@LANGS
async def test_handover_lists_the_open_incidents_compactly_most_urgent_first(desk_in, lang):
    desk = await desk_in(lang, "24x7", msk(2026, 3, 16, 9, 0))
    now = desk.clock.now()
    await customers.add_customer("BETA", "premium", "Beta Bank", now)
    await customers.bind_by_code("BETA", "telegram", str(OTHER_GROUP), "Beta", "supergroup", LEAD, now)
    desk.stub.chat(OTHER_GROUP, "Beta")
    await desk.say(GROUP, desk.customer, WORDS[lang][0])  # ACME-1 (24x7) due 10:00
    desk.clock.advance(timedelta(minutes=40))
    await desk.say(OTHER_GROUP, desk.customer, WORDS[lang][1])  # BETA-1 (premium) due 09:55: more urgent
    await run_until(desk, msk(2026, 3, 16, 10, 1), step=timedelta(minutes=1))

    handover = only([m for m in to(desk, ENGINEER) if not m.get("reply_markup") and "ACME-1" in m["text"]])
    lines = handover["text"].split("\n")
    assert in_language(handover["text"], lang, WORDS[lang]), handover["text"]
    assert "10:00" in lines[0] and "19:00" in lines[0], lines[0]  # the shift, first
    assert t(lang, "words.n.incidents", count=2) in lines[0], lines[0]  # and how many are open
    beta, acme = index(lines, "BETA-1"), index(lines, "ACME-1")
    assert 0 < beta < acme, lines  # the earlier deadline first
    assert len(lines) == 3, lines  # compact: one line per incident
    for n, name, due in ((beta, "Beta Bank", "09:55"), (acme, "Acme Corp", "10:00")):
        assert name in lines[n] and due in lines[n] and "P" in lines[n], lines[n]


@LANGS
async def test_gap_warning_collapses_a_run_of_uncovered_shifts_into_one_line(desk_in, lang):
    """Nobody rostered at all; overrides cover 17.03 19:00 – 19.03 19:00 and 20.03 10:00 onwards: the day and
    night of the 16th and the day of the 17th are one run of three shifts, the night of the 19th a gap alone."""
    desk = await desk_in(lang, "premium", msk(2026, 3, 16, 11, 0), night=[])
    await Rotation.filter(shift="day").update(members=[])
    now = desk.clock.now()
    for start, end in ((msk(2026, 3, 17, 19, 0), msk(2026, 3, 19, 19, 0)), (msk(2026, 3, 20, 10, 0),
                                                                            msk(2026, 3, 30, 10, 0))):
        await Override.create(user_id=ENGINEER, starts_at=start, ends_at=end, created_at=now, created_by=LEAD)
    await run_until(desk, msk(2026, 3, 16, 12, 1), step=timedelta(minutes=1))

    warning = only([m for m in to(desk, LEAD) if "⚠" in m["text"]])
    lines = warning["text"].split("\n")
    assert in_language(warning["text"], lang), warning["text"]
    assert "⚠" in lines[0] and "4" in re.findall(r"\d+", lines[0]), lines[0]  # four uncovered shifts, said first
    run = index(lines, "16.03 10:00", "17.03 19:00")
    assert t(lang, "words.n.shifts", count=3) in lines[run], lines[run]  # collapsed, with how many
    alone = index(lines, "19.03 19:00", "20.03 10:00")
    assert 0 < run < alone and len(lines) == 3, lines  # one line for the run, one for the lone night
    for boundary in ("16.03 19:00", "17.03 10:00"):  # the run's inner shifts get no lines of their own
        assert boundary not in warning["text"], warning["text"]
