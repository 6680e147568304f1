"""Write docs/transcript.md: one incident's life as the people in it read it, in Russian and in English.

    .venv/bin/python docs/transcript.py

The real bot (its Dispatcher, handlers, scheduler tick and outbox courier) runs in-process against the
stand-in Bot API server of the tests, on a throw-away SQLite database, with the clock moved by hand: a
premium customer writes at 02:00, the on-call engineer is pinged and reminded, takes the incident, answers
and resolves it, the customer rates it, and the lead asks for the month's report.
"""

import asyncio
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bot.db import close_database, migrate, open_database  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from domain import customers, people  # noqa: E402
from domain.models import Rotation  # noqa: E402
from scheduler.jobs import Heartbeat, Tick  # noqa: E402
from tests.clock import FrozenClock  # noqa: E402
from tests.conftest import Desk, make_env  # noqa: E402
from tests.stub_api import StubBotAPI  # noqa: E402

MSK = ZoneInfo("Europe/Moscow")
LEAD, ENGINEER, CUSTOMER, GROUP = 1001, 2002, 3003, -1001234567890
WHO = {LEAD: "lead", ENGINEER: "engineer", GROUP: "customer chat"}


async def life(lang: str, folder: Path) -> list[str]:
    stub = StubBotAPI()
    await stub.start()
    url = f"sqlite://{folder}/desk-{lang}.sqlite3"
    await migrate(url)
    await open_database(url, apply_migrations=False)
    lead = StubBotAPI.user(LEAD, "lead_anna", lang=lang)
    engineer = StubBotAPI.user(ENGINEER, "eng_boris", lang=lang)
    engineer["first_name"], lead["first_name"] = "Boris", "Anna"
    customer = StubBotAPI.user(CUSTOMER, "ivan_acme", lang=lang)
    customer["first_name"] = "Ivan"
    clock = FrozenClock()
    desk = Desk(stub, load_settings(make_env(stub.url, url, DEFAULT_LANG=lang)), clock)
    lines: list[str] = []
    try:
        clock.set(datetime(2026, 11, 26, 1, 55, tzinfo=MSK))
        now = clock.now()
        await people.ensure_leads(desk.settings.lead_ids, now)
        await customers.add_customer("ACME", "premium", "Acme", now)
        await customers.set_field("ACME", "lang", lang, desk.dp["desk"].sla, now)
        await customers.bind_by_code("ACME", GROUP, "Acme", "supergroup", LEAD, now)
        await people.register_staff(ENGINEER, "engineer", LEAD, now)
        await Rotation.create(shift="night", mode="daily", members=[ENGINEER], anchor=date(2026, 11, 1),
                              updated_at=now)
        stub.chat(GROUP, "Acme · support")
        for user in (lead, engineer):
            await desk.say(user["id"], user, "/start")
        tick = Tick(desk.settings, clock, desk.dp["desk"].sla, Heartbeat())
        seen = len(stub.calls)

        def show(title: str) -> None:
            nonlocal seen
            lines.append(f"#### {title}\n")
            for call in stub.calls[seen:]:
                if call.method not in ("sendMessage", "editMessageText", "answerCallbackQuery", "sendPhoto"):
                    continue
                to = WHO.get(int(call.params.get("chat_id", 0) or 0), "the person pressing")
                verb = {"editMessageText": "edited", "answerCallbackQuery": "pop-up", "sendPhoto": "chart"}.get(
                    call.method, "message")
                text = call.params.get("text") or call.params.get("caption") or "(the chart)"
                buttons = [b["text"] for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
                           for b in row]
                lines.append(f"*{verb} → {to}* ({clock.now().astimezone(MSK):%H:%M})\n")
                lines.append("```\n" + text + ("\n[" + "] [".join(buttons) + "]" if buttons else "") + "\n```\n")
            seen = len(stub.calls)

        clock.set(datetime(2026, 11, 26, 2, 0, tzinfo=MSK))
        problem = ("Не открывается портал, у всех ошибка 502" if lang == "ru"
                   else "The portal does not open, everyone gets error 502")
        first = await desk.say(GROUP, customer, problem)
        show("02:00 — the customer writes; the acknowledgement and the ping")
        for _ in range(40):  # the reminder falls five minutes before the 15-minute target
            clock.advance(timedelta(seconds=15))
            await tick.run()
            await desk.flush()
        show("02:10 — nobody has answered: the reminder")
        ping = next(c for c in stub.calls if c.method == "sendMessage" and int(c.params["chat_id"]) == ENGINEER
                    and c.params.get("reply_markup"))
        take = ping.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        clock.advance(timedelta(minutes=1))
        await desk.press({"message_id": 1, "date": 0, "chat": stub.chats.get(ENGINEER) or stub.chat(ENGINEER),
                          "text": "x"}, engineer, take)
        show("02:11 — the engineer presses Take: every copy of the ping is edited, the customer is told")
        clock.advance(timedelta(minutes=20))
        summary = "Перезапустили балансировщик" if lang == "ru" else "The load balancer was restarted"
        await desk.say(ENGINEER, engineer, f"/resolve ACME-1 {summary}")
        show("02:31 — resolved, with the rating buttons")
        resolved = next(c for c in reversed(stub.calls) if c.method == "sendMessage"
                        and int(c.params["chat_id"]) == GROUP)
        stars = resolved.params["reply_markup"]["inline_keyboard"][0][4]["callback_data"]
        await desk.press({"message_id": first["message_id"], "date": 0, "chat": stub.chats[GROUP], "text": "x"},
                         customer, stars)
        show("02:32 — the customer rates it")
        clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=MSK))
        await desk.say(LEAD, lead, "/report ACME 2026-11")
        show("1 December — the lead's report for November")
        return lines
    finally:
        if desk.bot.session._session is not None:
            await desk.bot.session._session.close()
        await close_database()
        await stub.stop()


async def main() -> None:
    out = ["# One incident's life, as its readers see it\n",
           "Made by `docs/transcript.py` from the real code (the Bot API is the tests' stand-in). "
           "Times are Moscow time; each block is one message as Telegram received it, buttons in brackets.\n"]
    with tempfile.TemporaryDirectory() as folder:
        for lang, title in (("ru", "По-русски"), ("en", "In English")):
            out.append(f"\n## {title}\n")
            out += await life(lang, Path(folder))
    (HERE / "transcript.md").write_text("\n".join(out), encoding="utf-8")
    print(f"wrote {HERE / 'transcript.md'}")


if __name__ == "__main__":
    asyncio.run(main())
