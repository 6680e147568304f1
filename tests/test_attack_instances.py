"""Several instances in webhook mode: an instance killed mid-update (SIGKILL, OOM, a node lost)."""

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.settings import load_settings
from bot.web import WEBHOOK_PATH, build_web_app
from domain import customers, updates
from domain.models import IncidentMessage
from handlers.parked import Parking
from scheduler.jobs import Heartbeat
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.people import GROUP, LEAD, customer

SECRET = "s3cret-token_value"


@pytest.fixture
async def instance_b(stub, db):
    settings = load_settings(make_env(stub.url, db, MODE="webhook", WEBHOOK_URL="https://desk.example/telegram/webhook",
                                      WEBHOOK_SECRET=SECRET, PARK_AFTER="2m"))
    desk = Desk(stub, settings, FrozenClock())
    app = build_web_app(settings, desk.dp, desk.bot, Heartbeat(last_tick=desk.clock.now()), desk.clock,
                        Parking(settings, desk.clock))
    client = TestClient(TestServer(app))
    await client.start_server()
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    desk.stub.chat(GROUP, "Acme")
    yield desk, client
    await client.close()


async def test_redelivery_of_an_update_claimed_by_a_dead_instance_is_not_lost(instance_b):
    desk, client = instance_b
    update = {"update_id": 71, "message": desk.stub.make_message(GROUP, customer, "Everything is down")}
    # Instance A claimed update 71 and was SIGKILLed while handling it: its claim stays 'handling'.
    assert await updates.claim(71, desk.clock.now())
    # Telegram's connection to A broke, so it delivers the update again within seconds: the balancer picks B.
    desk.clock.advance(timedelta(seconds=10))
    response = await client.post(WEBHOOK_PATH, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    stored = await IncidentMessage.filter(conversation__ref=str(GROUP), source="customer").exists()
    # Acceptable: B handles it, or B answers non-2xx so that Telegram tries again (after A's claim goes stale).
    assert stored or response.status >= 500, f"answered {response.status}, message not stored: lost for good"


async def test_webhook_secret_with_non_ascii_is_refused_with_401(instance_b):
    desk, client = instance_b
    update = {"update_id": 72, "message": desk.stub.make_message(GROUP, customer, "hi")}
    response = await client.post(WEBHOOK_PATH, json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-tokén_value".encode().decode("latin-1")})
    assert response.status == 401
    assert not await IncidentMessage.filter(conversation__ref=str(GROUP)).exists()
