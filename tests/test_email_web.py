"""/healthz reports the mailbox; /metrics counts mails in and out."""

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

import telemetry
from bot.mail_settings import MailServer
from bot.settings import load_settings
from bot.web import MAILBOX_AWAY, build_web_app
from handlers.email.imap import ImapLoop, MailboxHealth
from scheduler.jobs import Heartbeat
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env


@pytest.fixture
async def web(stub, db):
    settings = load_settings(make_env(stub.url, db))
    desk = Desk(stub, settings, FrozenClock())
    health = MailboxHealth()
    client = TestClient(TestServer(build_web_app(settings, desk.dp, desk.bot, Heartbeat(last_tick=desk.clock.now()),
                                                 desk.clock, mailbox=health)))
    await client.start_server()
    yield desk, client, health
    await client.close()


async def test_healthz_reports_the_mailbox(web):
    desk, client, health = web
    health.connected, health.idle, health.since = True, True, desk.clock.now() - timedelta(minutes=5)
    answer = await client.get("/healthz")
    assert answer.status == 200
    assert (await answer.json())["mailbox"] == {"connected": True, "waiting": "idle", "for_seconds": 300, "error": ""}
    health.connected, health.idle, health.last_error = False, False, "ConnectionRefusedError: [Errno 111]"
    health.since = desk.clock.now()
    answer = await client.get("/healthz")
    body = await answer.json()
    # The mail server being away is reported, not turned into a restart (which would not bring it back).
    assert answer.status == 200 and body["status"] == "ok"
    assert body["mailbox"] == {"connected": False, "waiting": "poll", "for_seconds": 0,
                               "error": "ConnectionRefusedError: [Errno 111]"}


async def test_healthz_without_mail_says_nothing_of_it(stub, db):
    settings = load_settings(make_env(stub.url, db))
    desk = Desk(stub, settings, FrozenClock())
    client = TestClient(TestServer(build_web_app(settings, desk.dp, desk.bot, Heartbeat(last_tick=desk.clock.now()),
                                                 desk.clock)))
    await client.start_server()
    try:
        assert "mailbox" not in await (await client.get("/healthz")).json()
    finally:
        await client.close()


def sample(text: str, name: str, labels: dict) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


async def test_metrics_count_mails_in_and_out(web):
    _, client, _ = web
    before = await (await client.get("/metrics")).text()
    telemetry.MAILS_IN.labels("intake").inc()
    telemetry.MAILS_IN.labels("auto-reply").inc()
    telemetry.MAILS_OUT.labels("ack").inc()
    after = await (await client.get("/metrics")).text()
    for name, labels in (("dutydesk_mails_in_total", {"outcome": "intake"}),
                         ("dutydesk_mails_in_total", {"outcome": "auto-reply"}),
                         ("dutydesk_mails_out_total", {"kind": "ack"})):
        assert sample(after, name, labels) == sample(before, name, labels) + 1


async def test_healthz_is_unhealthy_when_the_mailbox_is_away_too_long(web):
    desk, client, health = web
    health.connected, health.last_error = False, "ConnectionRefusedError: [Errno 111]"
    health.since = desk.clock.now() - MAILBOX_AWAY  # a reconnect in progress: reported, not a problem yet
    answer = await client.get("/healthz")
    assert answer.status == 200 and (await answer.json())["status"] == "ok"
    desk.clock.advance(timedelta(seconds=1))
    answer = await client.get("/healthz")
    body = await answer.json()
    assert answer.status == 503 and body["status"] == "unhealthy"
    assert body["problems"] == [f"mailbox: away for {int(MAILBOX_AWAY.total_seconds()) + 1} s "
                                "(ConnectionRefusedError: [Errno 111])"]
    assert body["mailbox"]["connected"] is False
    health.connected, health.since, health.last_error = True, desk.clock.now(), ""  # back: healthy at once
    assert (await client.get("/healthz")).status == 200


async def test_a_mailbox_that_never_logged_in_is_away_since_the_start(stub, db):
    """The desk started with a mail server it cannot reach: away from the start, not 'never changed'."""
    settings = load_settings(make_env(stub.url, db))
    desk = Desk(stub, settings, FrozenClock())
    server = MailServer("imap", "127.0.0.1", 1, "desk", "secret")
    loop = ImapLoop(server, desk.clock, deliver=None, max_size=1024**2, poll=timedelta(seconds=60))
    heartbeat = Heartbeat(last_tick=desk.clock.now())
    client = TestClient(TestServer(build_web_app(settings, desk.dp, desk.bot, heartbeat, desk.clock,
                                                 mailbox=loop.health)))
    await client.start_server()
    try:
        assert (await client.get("/healthz")).status == 200
        heartbeat.last_tick = desk.clock.advance(MAILBOX_AWAY + timedelta(seconds=1))  # the scheduler is alive
        answer = await client.get("/healthz")
        assert answer.status == 503 and (await answer.json())["problems"] == [
            f"mailbox: away for {int(MAILBOX_AWAY.total_seconds()) + 1} s"]
    finally:
        await client.close()
