"""eXpress in process: the bot's /express/ endpoints on the real web app, a stand-in BotX API (tests/botx_api.py)
driving them with eXpress's own JSON and receiving what the bot sends; the channel's rendering, errors and
asynchronous results; the settings."""

import asyncio
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_express
from bot.settings import load_settings
from bot.web import build_web_app
from domain import people
from domain.channels import Channels
from domain.errors import ConfigError
from domain.models import Conversation, Incident, IncidentMessage, Outbox, UnboundMessage
from handlers.telegram_channel import Pacer, TelegramChannel
from locales import t
from scheduler.courier import Courier
from scheduler.jobs import Heartbeat
from tests.botx_api import StandInBotX
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.people import ENGINEER, LEAD, engineer, lead

BOT_ID = "6fa1d2a0-1b2c-4d5e-8f90-a1b2c3d4e5f6"
SECRET = "express-secret-key"
CHAT = "0bd3c8d6-0000-4000-8000-000000000001"
OTHER_CHAT = "0bd3c8d6-0000-4000-8000-000000000002"
ANNA = "a0000000-0000-4000-8000-00000000000a"


class Room:
    """The desk with eXpress on, its web app served, a stand-in BotX talking to it."""

    def __init__(self, desk, express, client, botx, courier) -> None:
        self.desk, self.express, self.client, self.botx, self.courier = desk, express, client, botx, courier

    async def settle(self) -> None:
        """What the bot owes is sent and every BotX result has come back."""
        for _ in range(50):
            await self.express.wait_answers()
            while await self.courier.drain_once():
                pass
            if not self.botx._tasks and not self.express._answers:
                return
            await asyncio.sleep(0.01)

    async def bind(self, chat=CHAT, code="ACME") -> Conversation:
        await self.desk.say(LEAD, lead, f"/invite {code} express")
        token = re.search(r"^([A-Za-z0-9_-]{16,64})$", self.desk.last_reply(LEAD), re.MULTILINE)[1]
        status, _ = await self.botx.command(chat, ANNA, token)
        assert status == 202
        await self.settle()
        return await Conversation.get(channel="express", ref=f"{BOT_ID}:{chat}").select_related("customer")


@pytest.fixture
async def room(stub, db):
    botx = StandInBotX(BOT_ID, SECRET)
    await botx.start()
    settings = load_settings(make_env(stub.url, db, EXPRESS_BOT_ID=BOT_ID, EXPRESS_CTS_URL=botx.url,
                                      EXPRESS_SECRET_KEY=SECRET))
    clock = FrozenClock()
    await people.ensure_leads(settings.lead_ids, clock.now())
    desk = Desk(stub, settings, clock)
    express = build_express(settings, desk.dp, clock)
    await express.startup()
    from handlers.express.channel import ExpressChannel
    fast = Pacer(per_second=float("inf"), private_gap=0, group_gap=0, monotonic=lambda: 0.0)
    tg_fast = Pacer(per_second=float("inf"), private_gap=0, group_gap=0, monotonic=lambda: 0.0)
    courier = Courier(Channels(TelegramChannel(desk.bot, clock, settings, tg_fast),
                               ExpressChannel(express, clock, settings, fast)), clock, settings)
    client = TestClient(TestServer(build_web_app(settings, desk.dp, desk.bot, Heartbeat(last_tick=clock.now()), clock,
                                                 express=express)))
    desk.outbox = courier  # what the Telegram side owes (a /reply) leaves by eXpress too
    await client.start_server()
    botx.bot_url = str(client.make_url("")).rstrip("/")
    await desk.say(LEAD, lead, "/customer_add acme 8x5 Acme Corp")
    yield Room(desk, express, client, botx, courier)
    await client.close()
    await express.shutdown()
    await botx.stop()
    if desk.bot.session._session is not None:
        await desk.bot.session._session.close()


async def test_a_code_sent_in_the_chat_binds_it_and_the_desk_says_so(room):
    chat = await room.bind()
    assert chat.customer.code == "ACME"
    assert [m["body"] for m in room.botx.sent(CHAT)] == [t("en", "bind.done", code="ACME", name="Acme Corp")]
    assert all(call.authorized for call in room.botx.calls)  # every call signed with the bot's key


async def test_a_message_opens_an_incident_acknowledged_with_priority_bubbles(room):
    await room.bind()
    status, _ = await room.botx.command(CHAT, ANNA, "The mail server is down")
    assert status == 202
    incident = await Incident.get(key="ACME-1")
    await room.settle()
    ack = room.botx.sent(CHAT)[-1]
    assert "ACME-1" in ack["body"] and t("en", "words.ack.buttons") in ack["body"]
    labels = [b["label"] for row in ack["bubbles"] for b in row]
    assert labels == [t("en", f"words.button.{p}") for p in ("P1", "P2", "P3", "P4")]
    data = [b["data"] for row in ack["bubbles"] for b in row]
    assert data[0] == {"dd": f"dd:prio:{incident.id}:P1"}
    row = await Outbox.get(kind="ack")
    assert row.status == "sent"
    # The acknowledgement is remembered: a reply to it threads into the incident, days later.
    bot_message = await IncidentMessage.get(incident=incident, source="bot")
    room.desk.clock.advance(__import__("datetime").timedelta(days=1))
    await room.botx.command(CHAT, ANNA, "any news?", reply_to=bot_message.ref)
    assert await Incident.all().count() == 1
    assert await IncidentMessage.filter(incident=incident, source="customer").count() == 2


async def test_a_pressed_bubble_changes_the_priority(room):
    await room.bind()
    await room.botx.command(CHAT, ANNA, "Slow search")
    incident = await Incident.get(key="ACME-1")
    await room.settle()
    status, _ = await room.botx.command(CHAT, ANNA, "/dd", data={"dd": f"dd:prio:{incident.id}:P1"})
    assert status == 202
    await room.settle()
    assert (await Incident.get(id=incident.id)).priority == "P1"
    assert room.botx.sent(CHAT)[-1]["body"].startswith(t("en", "priority.changed_chat", key="ACME-1", priority="P1",
                                                          meaning=t("en", "priority.P1")))
    await room.botx.command(CHAT, ANNA, "/dd", data={"dd": "dd:prio:1:P0"})  # garbage
    await room.settle()
    assert room.botx.sent(CHAT)[-1]["body"] == t("en", "err.bad_button")
    assert await Incident.all().count() == 1


async def test_a_message_with_a_file_keeps_its_name_and_size(room):
    import base64
    await room.bind()
    content = base64.b64encode(b"E" * 3 * 1024 * 1024).decode()  # over the 1 MiB the rest of the app takes
    attachment = {"type": "document", "data": {"content": f"data:text/plain;base64,{content}",
                                               "file_name": "server.log"}}
    status, ref = await room.botx.command(CHAT, ANNA, "Logs attached", attachments=[attachment])
    assert status == 202
    stored = await IncidentMessage.get(ref=ref)
    assert stored.text == "Logs attached"
    assert stored.attachments == [{"kind": "document", "name": "server.log", "size": str(3 * 1024 * 1024)}]


async def test_an_unbound_chat_goes_to_the_inbox(room):
    status, _ = await room.botx.command(OTHER_CHAT, ANNA, "hello support?")
    assert status == 202
    await room.settle()
    assert await UnboundMessage.all().values_list("text", flat=True) == ["hello support?"]
    assert [m["body"] for m in room.botx.sent(OTHER_CHAT)] == [t("en", "unbound.notice")]


@pytest.mark.parametrize("token", ["wrong-key", "none", "garbage", "other-bot"])
async def test_a_request_with_a_bad_signature_is_refused_and_stores_nothing(room, token):
    chat = await room.bind()
    stored = await IncidentMessage.all().count()
    signature = {"wrong-key": room.botx.signature(secret_key="not-the-secret"), "none": "", "garbage": "abc.def.ghi",
                 "other-bot": room.botx.signature(bot_id="11111111-2222-4333-8444-555555555555")}[token]
    status, _ = await room.botx.command(CHAT, ANNA, "The mail server is down", token=signature)
    assert status == 401
    assert await IncidentMessage.all().count() == stored and await Incident.all().count() == 0
    status = await room.botx.post("/express/notification/callback",
                                  {"sync_id": "6fa1d2a0-0000-4000-8000-000000000000", "status": "ok", "result": {}},
                                  token=signature)
    assert status == 401
    answer = await room.client.get("/express/status", params={"bot_id": BOT_ID, "chat_id": chat.ref.split(":")[1],
                                                              "user_huid": ANNA, "ad_login": "a", "ad_domain": "b",
                                                              "is_admin": "false", "chat_type": "group_chat"},
                                   headers={"Authorization": f"Bearer {signature}"})
    assert answer.status == 401


YEAR = 365 * 24 * 3600


@pytest.mark.parametrize("claims", ["no exp", "nothing but who", "valid for ten years",
                                    "valid for ten years, issued when not said"])
async def test_a_token_that_never_expires_is_refused_everywhere(room, claims):
    """Signed with the right key, but good for ever once seen (a captured request replayed): refused."""
    import time
    chat = await room.bind()
    now = int(time.time())
    token = room.botx.signature(**{"no exp": {"exp": None},
                                   "nothing but who": {"exp": None, "iat": None, "nbf": None, "jti": None},
                                   "valid for ten years": {"exp": now + 10 * YEAR},
                                   "valid for ten years, issued when not said": {"exp": now + 10 * YEAR, "iat": None,
                                                                                 "nbf": None}}[claims])
    status, _ = await room.botx.command(CHAT, ANNA, "The mail server is down", token=token)
    assert status == 401
    assert await Incident.all().count() == 0
    status = await room.botx.post("/express/notification/callback",
                                  {"sync_id": "6fa1d2a0-0000-4000-8000-000000000000", "status": "ok", "result": {}},
                                  token=token)
    assert status == 401
    answer = await room.client.get("/express/status", params={"bot_id": BOT_ID, "chat_id": chat.ref.split(":")[1],
                                                              "user_huid": ANNA, "ad_login": "a", "ad_domain": "b",
                                                              "is_admin": "false", "chat_type": "group_chat"},
                                   headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 401


@pytest.mark.parametrize("scheme", ["v2", "v1"])
async def test_a_token_as_a_cts_server_makes_it_is_taken(room, scheme):
    """BotX (Elixir, Joken's default claims) signs for two hours with exp, iat, nbf and a 24-character jti; the
    older scheme names the bot as the audience and the CTS host as the issuer."""
    import time

    from tests.botx_api import HOST
    await room.bind()
    now = int(time.time())
    claims = {"exp": now + 7200, "iat": now, "nbf": now, "jti": "2uqpju31h6dgv4f41c005e1i"}
    if scheme == "v1":
        claims |= {"aud": [BOT_ID], "iss": HOST, "version": None}
    status, _ = await room.botx.command(CHAT, ANNA, "The mail server is down", token=room.botx.signature(**claims))
    assert status == 202
    assert await Incident.all().count() == 1


async def test_an_early_result_waits_for_its_send_and_is_taken_from_its_bot_only():
    """BotX may call back before its answer to the send arrived: the result waits (briefly) for the send to
    name its bot, then is taken if that bot signed it; one for a sync_id no send names is dropped."""
    import uuid

    from pybotx import BotXMethodCallback, UnverifiedRequestError
    from pydantic import TypeAdapter

    from handlers.express.server import Results, UnknownResult, _result_signer, _sending_bot
    results = Results(early_wait=5.0)
    sync_id = uuid.uuid4()
    result = TypeAdapter(BotXMethodCallback).validate_python({"sync_id": str(sync_id), "status": "ok", "result": {}})

    async def arrives(signer: str):
        _result_signer.set(signer)
        await results.set_botx_method_callback_result(result)

    forged = asyncio.create_task(arrives("11111111-2222-4333-8444-555555555555"))
    early = asyncio.create_task(arrives(BOT_ID))
    await asyncio.sleep(0)  # both are in, before the send knows its sync_id
    _sending_bot.set(__import__("uuid").UUID(BOT_ID))
    await results.create_botx_method_callback(sync_id)
    with pytest.raises(UnverifiedRequestError):
        await forged
    await early
    assert (await results.wait_botx_method_callback(sync_id, 1.0)).sync_id == sync_id
    assert sync_id not in results.sent_by
    results.early_wait = 0.01
    with pytest.raises(UnknownResult):
        await arrives(BOT_ID)  # the send is over: nobody waits for it


async def test_a_chat_in_the_inbox_and_then_bound_is_named_asking_botx_once(room):
    """A message carries no chat name: BotX's chat info is asked once, after the message was taken in."""
    from domain.models import UnboundConversation
    room.botx.chat_names[CHAT] = "Acme \u2014 IT support"
    await room.botx.command(CHAT, ANNA, "hello, anyone?")
    await room.settle()
    assert (await UnboundConversation.get(channel="express")).title == "Acme \u2014 IT support"
    await room.desk.say(LEAD, lead, "/unbound")
    assert "Acme \u2014 IT support (" in room.desk.last_reply(LEAD)
    chat = await room.bind()
    assert chat.title == "Acme \u2014 IT support"
    await room.botx.command(CHAT, ANNA, "The mail server is down")
    await room.settle()
    await room.desk.say(LEAD, lead, "/customer ACME")
    assert f"Acme \u2014 IT support ({BOT_ID}:{CHAT})" in room.desk.last_reply(LEAD)
    assert room.botx.info_asked(CHAT) == 1


async def test_a_chat_made_with_the_bot_in_it_is_named_by_botx_event(room):
    status = await room.botx.chat_created(CHAT, "Acme / outages", creator=ANNA)
    assert status == 202
    chat = await room.bind()
    assert chat.title == "Acme / outages"
    assert room.botx.info_asked() == 0  # the event named it: nothing to ask


@pytest.mark.parametrize("answer", [500, 404])
async def test_a_chat_name_botx_will_not_give_loses_no_message(room, answer):
    if answer == 500:
        room.botx.info_status = 500
    chat = await room.bind()  # chat info: 500, or chat_not_found (404)
    assert chat.customer.code == "ACME" and chat.title == ""
    status, ref = await room.botx.command(CHAT, ANNA, "The mail server is down")
    await room.settle()
    assert status == 202 and await IncidentMessage.exists(ref=ref)
    assert (await Conversation.get(id=chat.id)).title == ""
    assert room.botx.info_asked(CHAT) == 1  # asked once in a run, not again for every message


async def test_the_status_menu_lists_the_chat_commands(room):
    answer = await room.client.get("/express/status", params={
        "bot_id": BOT_ID, "chat_id": CHAT, "user_huid": ANNA, "ad_login": "a", "ad_domain": "b", "is_admin": "false",
        "chat_type": "group_chat"}, headers={"Authorization": f"Bearer {room.botx.signature()}"})
    assert answer.status == 200
    commands = {c["body"] for c in (await answer.json())["result"]["commands"]}
    assert commands == {"/new", "/status", "/help"}


async def test_malformed_requests_are_answered_400(room):
    answer = await room.client.post("/express/command", data=b"{not json",
                                     headers={"Authorization": f"Bearer {room.botx.signature()}"})
    assert answer.status == 400
    status = await room.botx.post("/express/command", {"sync_id": "x"})
    assert status in (400, 401)
    assert await Incident.all().count() == 0


async def test_a_chat_that_is_gone_is_unreachable_and_the_leads_are_told(room):
    await room.bind()
    await room.botx.command(CHAT, ANNA, "Printer on fire")
    room.botx.gone_chats.add(CHAT)
    await room.settle()
    ack = await Outbox.get(kind="ack", channel="express")
    assert ack.status == "failed" and "chat_not_found" in ack.error
    chat = await Conversation.get(channel="express")
    assert chat.unreachable_since is not None
    lead_sees = room.desk.replies(LEAD)
    assert any(text == t("en", "edges_outbox.chat_lost", code="ACME", name="Acme Corp", title=chat.ref)
               for text in lead_sees), lead_sees
    assert any("ACME-1" in text for text in lead_sees)  # the acknowledgement, rerouted to the lead


async def test_botx_away_is_retried_with_backoff(room):
    await room.bind()
    room.botx.fail_next = [503, 503]
    await room.botx.command(CHAT, ANNA, "VPN is down")
    await room.courier.drain_once()
    ack = await Outbox.get(kind="ack")
    assert ack.status == "pending" and "503" in ack.error and ack.due_at > room.desk.clock.now()
    room.desk.clock.advance(__import__("datetime").timedelta(seconds=2))
    await room.courier.drain_once()
    room.desk.clock.advance(__import__("datetime").timedelta(seconds=5))
    await room.settle()
    assert (await Outbox.get(kind="ack")).status == "sent"
    assert "VPN is down" in room.botx.sent(CHAT)[-1]["body"] or "ACME-1" in room.botx.sent(CHAT)[-1]["body"]


async def test_a_staff_reply_reaches_the_chat(room):
    await room.bind()
    await room.botx.command(CHAT, ANNA, "Calendar sync broken")
    await people.register_staff(ENGINEER, "engineer", LEAD, room.desk.clock.now())
    await room.desk.say(ENGINEER, engineer, "/reply ACME-1 Restarted the sync service, try now")
    await room.settle()
    name = await people.display_name(ENGINEER)
    assert room.botx.sent(CHAT)[-1]["body"] == t("en", "reply.said", name=name,
                                                 text="Restarted the sync service, try now")
    assert (await Incident.get(key="ACME-1")).responded_by == ENGINEER


async def test_announcements_rating_and_long_texts_reach_the_chat(room):
    chat = await room.bind()
    await room.desk.say(LEAD, lead, "/announce ACME Maintenance tonight 22:00-23:00")
    await room.settle()
    assert "Maintenance tonight 22:00-23:00" in room.botx.sent(CHAT)[-1]["body"]
    await room.botx.command(CHAT, ANNA, "Printer on fire")
    await people.register_staff(ENGINEER, "engineer", LEAD, room.desk.clock.now())
    await room.desk.say(ENGINEER, engineer, "/resolve ACME-1 Replaced the toner")
    await room.settle()
    prompt = room.botx.sent(CHAT)[-1]
    assert "Replaced the toner" in prompt["body"]
    assert [b["label"] for row in prompt["bubbles"] for b in row] == ["★" * n for n in range(1, 6)]
    incident = await Incident.get(key="ACME-1")
    await room.botx.command(CHAT, ANNA, "/dd", data={"dd": prompt["bubbles"][0][4]["data"]["dd"]})
    assert (await Incident.get(id=incident.id)).rating == 5
    await room.settle()  # the thanks, owed through the outbox
    mark = len(room.botx.sent(CHAT))
    from domain import outbox
    lines = [f"line {n} " + "x" * 90 for n in range(100)]  # about 10 000 characters: three messages
    await outbox.enqueue("notice", outbox.conversation(chat), room.desk.clock.now(), params={"text": "\n".join(lines)})
    await room.settle()
    parts = [m["body"] for m in room.botx.sent(CHAT)[mark:]]
    assert len(parts) == 3 and all(len(part) <= 4096 for part in parts)
    assert "\n".join(parts) == "\n".join(lines)


async def test_a_periodic_report_reaches_the_chat_as_text_without_its_chart(room):
    chat = await room.bind()
    await room.botx.command(CHAT, ANNA, "Printer on fire")
    await room.settle()
    mark = len(room.botx.sent(CHAT))
    from datetime import timedelta

    from domain import outbox
    now = room.desk.clock.now()
    params = {"customer": "ACME", "start": (now - timedelta(days=30)).isoformat(), "end": now.isoformat(),
              "first": (now - timedelta(days=30)).date().isoformat(), "last": now.date().isoformat()}
    await outbox.enqueue("report", outbox.conversation(chat), now, params={**params, "chart": True})
    await outbox.enqueue("report", outbox.conversation(chat), now, params=params)
    await room.settle()
    sent = room.botx.sent(CHAT)[mark:]
    assert len(sent) == 1 and "Acme Corp (ACME)" in sent[0]["body"]
    assert await Outbox.filter(kind="report", status="sent").count() == 2


# ---- settings ---------------------------------------------------------------------------------------

def env(**values):
    return lambda name, default=None: values.get(name, default)


@pytest.mark.parametrize(("values", "names"), [
    ({"EXPRESS_BOT_ID": BOT_ID}, "EXPRESS_CTS_URL is not set"),
    ({"EXPRESS_BOT_ID": "not-a-uuid", "EXPRESS_CTS_URL": "https://cts.acme.ru", "EXPRESS_SECRET_KEY": "s"},
     "EXPRESS_BOT_ID='not-a-uuid' is invalid"),
    ({"EXPRESS_BOT_ID": BOT_ID, "EXPRESS_CTS_URL": "ftp://cts.acme.ru", "EXPRESS_SECRET_KEY": "s"},
     "EXPRESS_CTS_URL='ftp://cts.acme.ru' is invalid"),
    ({"EXPRESS_BOT_ID": BOT_ID, "EXPRESS_CTS_URL": "https://u:p@cts.acme.ru", "EXPRESS_SECRET_KEY": "s"},
     "EXPRESS_CTS_URL='<hidden>' is invalid"),
    ({"EXPRESS_BOT_ID": BOT_ID, "EXPRESS_CTS_URL": "https://cts.acme.ru/api", "EXPRESS_SECRET_KEY": "s"},
     "EXPRESS_CTS_URL='https://cts.acme.ru/api' is invalid"),
    ({"EXPRESS_BOT_ID": f"{BOT_ID},{BOT_ID}", "EXPRESS_CTS_URL": "https://a.ru,https://b.ru",
      "EXPRESS_SECRET_KEY": "s1,s2"}, "names the same bot twice"),
    ({"EXPRESS_BOT_ID": BOT_ID, "EXPRESS_CTS_URL": "https://a.ru,https://b.ru", "EXPRESS_SECRET_KEY": "s1"},
     "list 1, 2 and 1 entries"),
    ({"EXPRESS_BOT_ID": BOT_ID, "EXPRESS_CTS_URL": "https://a.ru", "EXPRESS_SECRET_KEY": "top secret"},
     "EXPRESS_SECRET_KEY entry 1 is invalid"),
])
def test_bad_express_settings_stop_the_bot_with_one_line(values, names):
    from bot.express_settings import load_express
    with pytest.raises(ConfigError) as error:
        load_express(env(**values))
    message = str(error.value)
    assert names in message and "\n" not in message
    assert "top secret" not in message and "s1" not in message.replace("s1,", "")


def test_several_cts_servers_and_off_until_set():
    from bot.express_settings import load_express
    assert load_express(env()) is None
    second = "11111111-2222-4333-8444-555555555555"
    loaded = load_express(env(EXPRESS_BOT_ID=f"{BOT_ID}, {second}", EXPRESS_CTS_URL="https://cts.acme.ru/,http://x.beta.ru:8080",
                              EXPRESS_SECRET_KEY="k1,k2"))
    assert [(str(a.bot_id), a.cts_url, a.host) for a in loaded.accounts] == [
        (BOT_ID, "https://cts.acme.ru", "cts.acme.ru"), (second, "http://x.beta.ru:8080", "x.beta.ru")]
    assert "k1" not in repr(loaded)


def test_pybotx_is_not_loaded_without_express():
    import subprocess
    import sys
    code = ("import sys, bot.app, bot.web, handlers.chatroom, handlers.room_render; "
            "print('pybotx' in sys.modules, 'loguru' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
