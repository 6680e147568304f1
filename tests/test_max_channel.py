"""The MAX channel, through the courier against the MAX stand-in (and the Telegram stand-in for the leads):
each owed kind rendered in the chat's language with MAX inline keyboards, replies threaded by `mid`, long texts
in parts, and MAX's refusals judged: retried, unreachable (never assuming a DM works) or failed."""

from datetime import timedelta

import pytest

from bot.app import build_channels
from bot.settings import load_settings
from domain import customers, identities, outbox, people
from domain.inbox import IncomingMessage
from domain.intake import Windows, record_customer_message
from domain.models import Conversation, IncidentMessage, Outbox
from domain.sla import Sla
from handlers.max.channel import MaxChannel
from handlers.max.wiring import build_max_bot
from handlers.telegram_channel import Pacer
from scheduler.courier import Courier
from tests.clock import FrozenClock
from tests.conftest import make_env
from tests.max_stub import TOKEN, StubMaxAPI, user
from tests.people import LEAD

CHAT = -70002
IVAN = user(4002, "Иван", "Петров")
WINDOWS = Windows(thread=timedelta(hours=4), reopen=timedelta(hours=72))


@pytest.fixture
async def max_api():
    server = StubMaxAPI()
    await server.start()
    yield server
    await server.stop()


class Desk:
    def __init__(self, stub, max_api, db) -> None:
        self.clock = FrozenClock()
        self.settings = load_settings(make_env(stub.url, db, MAX_BOT_TOKEN=TOKEN, MAX_API_URL=max_api.url))
        self.max_bot = build_max_bot(self.settings)
        from aiogram import Bot

        from bot.app import build_bot
        self.bot: Bot = build_bot(self.settings)
        fast = Pacer(per_second=float("inf"), private_gap=0, group_gap=0)
        channels = build_channels(self.bot, self.settings, self.clock, fast)
        # Paced on the test's clock: a 429's pause is over when the test moves the clock past it.
        channels.register(MaxChannel(self.max_bot, self.clock, self.settings, Pacer(
            per_second=float("inf"), private_gap=0, group_gap=0, monotonic=lambda: self.clock.now().timestamp())))
        self.courier = Courier(channels, self.clock, self.settings)
        self.sla = Sla(self.settings.policy)

    async def flush(self) -> None:
        while await self.courier.drain_once():
            pass

    async def close(self) -> None:
        await self.max_bot.close_session()
        await self.bot.session.close()


@pytest.fixture
async def desk(stub, max_api, db):
    d = Desk(stub, max_api, db)
    await people.ensure_leads(d.settings.lead_ids, d.clock.now())
    await customers.add_customer("ACME", "premium", "Acme", d.clock.now())
    yield d
    await d.close()


async def max_chat(desk, lang: str | None = None) -> Conversation:
    customer = await customers.get_customer("ACME")
    return await Conversation.create(channel="max", ref=str(CHAT), customer=customer, title="Acme в Максе",
                                     kind="chat", lang=lang, bound_at=desk.clock.now())


def to_chat(conversation: Conversation) -> outbox.Recipient:
    return outbox.conversation(conversation)


async def opened(desk, conversation: Conversation, text: str = "Сервер недоступен", mid: str = "mid.c1"):
    person = await identities.person_for("max", IVAN["user_id"], desk.clock.now(), "Иван Петров")
    msg = IncomingMessage("max", conversation.ref, mid, person.id, "Иван Петров", text, [], desk.clock.now())
    result = await record_customer_message(msg, conversation, desk.sla, WINDOWS, desk.clock.now())
    return result.incident


async def test_the_acknowledgement_replies_with_priority_buttons_and_threads_an_answer_to_it(desk, max_api):
    conversation = await max_chat(desk)
    incident = await opened(desk, conversation)
    await outbox.enqueue("ack", to_chat(conversation), desk.clock.now(), params={"reply_to": "mid.c1"},
                         incident_id=incident.id, rank=outbox.RANK_PING)
    await desk.flush()
    [sent] = max_api.sent()
    assert sent.query == {"chat_id": str(CHAT)}
    assert "ACME-1" in sent.body["text"] and sent.body["link"] == {"type": "reply", "mid": "mid.c1"}
    [keyboard] = sent.body["attachments"]
    assert keyboard["type"] == "inline_keyboard"
    payloads = [b["payload"] for line in keyboard["payload"]["buttons"] for b in line]
    assert payloads == [f"dd:prio:{incident.id}:P{n}" for n in range(1, 5)]
    assert all(b["type"] == "callback" for line in keyboard["payload"]["buttons"] for b in line)
    mid = max_api.message_of(sent)["body"]["mid"]
    # The desk's message is kept under its mid: a customer's reply to it belongs to ACME-1.
    assert await IncidentMessage.exists(incident_id=incident.id, ref=mid, source="bot")
    assert (await Outbox.get(incident_id=incident.id)).status == "sent"


async def test_notices_are_in_the_chats_language_and_the_rating_has_five_buttons(desk, max_api):
    conversation = await max_chat(desk, lang="ru")
    incident = await opened(desk, conversation)
    await outbox.enqueue("customer", to_chat(conversation), desk.clock.now(), incident_id=incident.id,
                         params={**outbox.say("resolve.customer", key=incident.key, summary="перезапустили"),
                                 "buttons": "rating"})
    await outbox.enqueue("reply", to_chat(conversation), desk.clock.now(), incident_id=incident.id,
                         params={"answer": "Перезапустите службу", "author": "Борис"})
    await desk.flush()
    resolved, answered = max_api.sent()
    assert "ACME-1" in resolved.body["text"] and "перезапустили" in resolved.body["text"]
    stars = [b["payload"] for b in resolved.body["attachments"][0]["payload"]["buttons"][0]]
    assert stars == [f"dd:rate:{incident.id}:{n}" for n in range(1, 6)]
    assert "Борис" in answered.body["text"] and "Перезапустите службу" in answered.body["text"]
    assert not answered.body["attachments"]


async def test_a_text_over_maxs_limit_goes_in_parts(desk, max_api):
    conversation = await max_chat(desk)
    incident = await opened(desk, conversation)
    answer = "\n".join(f"line {n} " + "x" * 90 for n in range(100))  # about 10 000 characters
    await outbox.enqueue("reply", to_chat(conversation), desk.clock.now(), incident_id=incident.id,
                         params={"answer": answer, "author": "Boris"})
    await desk.flush()
    parts = [c.body["text"] for c in max_api.sent()]
    assert len(parts) == 3 and all(len(p) <= 4000 for p in parts)
    assert "line 0 " in parts[0] and "line 99 " in parts[-1]


async def test_a_person_who_never_wrote_to_the_bot_is_unreachable_and_nothing_is_retried(desk, max_api):
    conversation = await max_chat(desk)
    incident = await opened(desk, conversation)
    await outbox.enqueue("customer", outbox.person(incident.reporter_id, channel="max"), desk.clock.now(),
                         incident_id=incident.id, params=outbox.say("take.customer", key=incident.key))
    await desk.flush()
    row = await Outbox.get(incident_id=incident.id)
    assert row.status == "failed" and "403" in row.error and "chat.denied" in row.error
    assert [c.method for c in max_api.refused] == ["POST /messages"] and not max_api.sent()
    # Once the person opens a dialog with the bot, the desk may write to them.
    max_api.dialogs.add(IVAN["user_id"])
    await outbox.enqueue("customer", outbox.person(incident.reporter_id, channel="max"), desk.clock.now(),
                         incident_id=incident.id, params=outbox.say("take.customer", key=incident.key))
    await desk.flush()
    [sent] = max_api.sent()
    assert sent.query == {"user_id": str(IVAN["user_id"])} and "ACME-1" in sent.body["text"]


async def test_removed_from_the_chat_its_notices_reach_the_leads_and_the_chat_is_marked(desk, max_api, stub):
    conversation = await max_chat(desk)
    incident = await opened(desk, conversation)
    max_api.removed_chats.add(CHAT)
    await outbox.enqueue("customer", to_chat(conversation), desk.clock.now(), incident_id=incident.id,
                         params=outbox.say("take.customer", key=incident.key))
    await desk.flush()
    assert await customers.unreachable_since("max", str(CHAT)) is not None
    texts = [c.params["text"] for c in stub.find("sendMessage") if int(c.params["chat_id"]) == LEAD]
    assert any("ACME-1" in text for text in texts)  # the notice, rerouted to the lead in Telegram
    assert not max_api.sent()


@pytest.mark.parametrize(("status", "body"), [
    (429, {"code": "too.many.requests", "message": "Too many requests"}),
    (502, {"code": "internal", "message": "Bad gateway"}),
    (401, {"code": "verify.token", "message": "Invalid access_token"}),
])
async def test_transient_refusals_are_retried(desk, max_api, status, body):
    conversation = await max_chat(desk)
    incident = await opened(desk, conversation)
    max_api.faults["POST /messages"] = [(status, body)]
    await outbox.enqueue("customer", to_chat(conversation), desk.clock.now(), incident_id=incident.id,
                         params=outbox.say("take.customer", key=incident.key))
    await desk.flush()
    row = await Outbox.get(incident_id=incident.id)
    assert row.status == "pending" and row.error
    desk.clock.advance(timedelta(seconds=31))
    await desk.flush()
    assert (await Outbox.get(id=row.id)).status == "sent" and len(max_api.sent()) == 1


async def test_a_malformed_request_fails_the_row_alone(desk, max_api):
    conversation = await max_chat(desk)
    incident = await opened(desk, conversation)
    max_api.faults["POST /messages"] = [(400, {"code": "proto.payload", "message": "bad"})]
    await outbox.enqueue("customer", to_chat(conversation), desk.clock.now(), incident_id=incident.id,
                         params=outbox.say("take.customer", key=incident.key))
    await desk.flush()
    row = await Outbox.get(incident_id=incident.id)
    assert row.status == "failed" and "proto.payload" in row.error
    assert await customers.unreachable_since("max", str(CHAT)) is None


async def test_a_ping_is_never_rendered_for_a_max_chat(desk, max_api):
    conversation = await max_chat(desk)
    incident = await opened(desk, conversation)
    await outbox.enqueue("new", to_chat(conversation), desk.clock.now(), incident_id=incident.id)
    await desk.flush()
    row = await Outbox.get(incident_id=incident.id)
    assert row.status == "failed" and "not for a chat room" in row.error and not max_api.sent()


async def test_a_report_reaches_the_chat_as_its_text_and_its_chart_as_a_picture(desk, max_api):
    conversation = await max_chat(desk, lang="ru")
    await opened(desk, conversation)
    start = desk.clock.now() - timedelta(days=7)
    params = {"customer": "ACME", "start": start.isoformat(), "end": desk.clock.now().isoformat(),
              "first": start.date().isoformat(), "last": (desk.clock.now() - timedelta(days=1)).date().isoformat()}
    await outbox.enqueue("report", to_chat(conversation), desk.clock.now(), params=params, rank=outbox.RANK_REPORT)
    await outbox.enqueue("report", to_chat(conversation), desk.clock.now(), params={**params, "chart": True},
                         rank=outbox.RANK_REPORT)
    await desk.flush()
    text, chart = max_api.sent()
    assert "Acme" in text.body["text"] and not text.body["attachments"]
    [picture] = chart.body["attachments"]
    assert picture["type"] == "image" and picture["payload"]["token"] in max_api.uploads
    assert max_api.uploads[picture["payload"]["token"]].startswith(b"\x89PNG")
    assert "Acme" in chart.body["text"]


async def test_a_chart_max_will_not_take_goes_as_its_title_alone(desk, max_api):
    conversation = await max_chat(desk)
    await opened(desk, conversation)
    start = desk.clock.now() - timedelta(days=7)
    params = {"customer": "ACME", "start": start.isoformat(), "end": desk.clock.now().isoformat(),
              "first": start.date().isoformat(), "last": (desk.clock.now() - timedelta(days=1)).date().isoformat(),
              "chart": True}
    max_api.faults["POST /uploads"] = [(500, {"code": "internal", "message": "upload is away"})] * 3
    await outbox.enqueue("report", to_chat(conversation), desk.clock.now(), params=params, rank=outbox.RANK_REPORT)
    for _ in range(4):
        await desk.flush()
        desk.clock.advance(timedelta(seconds=31))
    [title] = max_api.sent()
    assert "Acme" in title.body["text"] and not title.body["attachments"]
    assert (await Outbox.get(kind="report")).status == "sent"


async def test_the_periodic_report_reaches_a_max_chat_with_its_chart(desk, max_api):
    from datetime import UTC, datetime

    from scheduler.jobs import Heartbeat, Tick
    conversation = await max_chat(desk)
    await opened(desk, conversation)
    await customers.set_field("ACME", "report", "weekly", desk.sla, desk.clock.now())
    desk.clock.set(datetime(2026, 3, 16, 7, 0, tzinfo=UTC))  # Monday 10:00 in Moscow: the weekly report is due
    await Tick(desk.settings, desk.clock, desk.sla, Heartbeat()).run()
    await desk.flush()
    to_chat = [c for c in max_api.sent() if c.query == {"chat_id": str(CHAT)}]
    assert len(to_chat) == 2  # the report's text, and its chart as a picture under the title
    assert any(c.body["attachments"] and c.body["attachments"][0]["type"] == "image" for c in to_chat)
