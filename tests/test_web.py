"""The web app: webhook requests checked and handled, health that tells the truth, metrics that parse."""

import json
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from tortoise import Tortoise

from bot.settings import load_settings
from bot.web import MAX_BODY, WEBHOOK_PATH, build_web_app
from domain import customers
from domain.models import Incident
from scheduler.jobs import Heartbeat
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.people import GROUP, LEAD, customer, lead

SECRET = "s3cret-token_value"


@pytest.fixture
async def web(stub, db):
    settings = load_settings(make_env(stub.url, db, MODE="webhook", WEBHOOK_URL="https://desk.example/telegram/webhook",
                                      WEBHOOK_SECRET=SECRET))
    desk = Desk(stub, settings, FrozenClock())
    heartbeat = Heartbeat(last_tick=desk.clock.now())
    client = TestClient(TestServer(build_web_app(settings, desk.dp, desk.bot, heartbeat, desk.clock)))
    await client.start_server()
    yield desk, client, heartbeat
    await client.close()


def update(n: int, text: str, chat: int = LEAD, user=lead) -> dict:
    return {"update_id": n, "message": {"message_id": n, "date": 1772000000, "chat": {"id": chat, "type": "private",
                                                                                    "first_name": "x"},
                                        "from": user, "text": text,
                                        "entities": [{"type": "bot_command", "offset": 0,
                                                      "length": len(text.split()[0])}] if text[0] == "/" else []}}


async def test_webhook_secret_and_bad_requests(web):
    _, client, _ = web
    good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    response = await client.post(WEBHOOK_PATH, json=update(1, "/customer_add ACME premium Acme"), headers=good)
    assert response.status == 200
    assert await customers.get_customer("ACME")
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        response = await client.post(WEBHOOK_PATH, json=update(2, "/customer_add BETA 8x5 Beta"), headers=headers)
        assert response.status == 401
    response = await client.post(WEBHOOK_PATH, data=b"{not json", headers={**good, "Content-Type": "application/json"})
    assert response.status == 400
    response = await client.post(WEBHOOK_PATH, json={"hello": "world"}, headers=good)
    assert response.status == 400
    response = await client.post(WEBHOOK_PATH, data=b"x" * (MAX_BODY + 1), headers=good)
    assert response.status == 413
    from domain.models import Customer

    assert await Customer.all().values_list("code", flat=True) == ["ACME"]  # nothing else changed


async def test_the_same_update_twice_is_handled_once(web):
    desk, client, _ = web
    good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    await customers.add_customer("ACME", "premium", "Acme", desk.clock.now())
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, desk.clock.now())
    body = update(10, "Всё упало", chat=GROUP, user=customer)
    body["message"]["chat"] = {"id": GROUP, "type": "supergroup", "title": "Acme"}
    for _ in range(2):
        assert (await client.post(WEBHOOK_PATH, json=body, headers=good)).status == 200
    assert await Incident.all().count() == 1


async def test_health_follows_the_database_and_the_scheduler(web, monkeypatch):
    desk, client, heartbeat = web
    assert (await client.get("/healthz")).status == 200
    connection = Tortoise.get_connection("default")

    async def down(*args, **kwargs):
        raise ConnectionError("database is down")

    monkeypatch.setattr(type(connection), "execute_query", down)
    response = await client.get("/healthz")
    assert response.status == 503 and "database" in json.dumps(await response.json())
    monkeypatch.undo()
    assert (await client.get("/healthz")).status == 200
    desk.clock.advance(desk.settings.scheduler_tick * 3 + timedelta(seconds=11))
    response = await client.get("/healthz")
    assert response.status == 503 and "scheduler" in json.dumps(await response.json())
    heartbeat.last_tick = desk.clock.now()
    assert (await client.get("/healthz")).status == 200


async def test_health_names_an_update_that_keeps_failing(web):
    desk, client, heartbeat = web
    heartbeat.update_failed(41, desk.clock.now())
    desk.clock.advance(timedelta(seconds=30))
    heartbeat.last_tick = desk.clock.now()
    heartbeat.update_failed(41, desk.clock.now())  # the retry fails too: still failing since the first
    assert (await client.get("/healthz")).status == 200  # a short blip does not flip the health
    desk.clock.advance(timedelta(seconds=31))
    heartbeat.last_tick = desk.clock.now()
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["problems"] == ["updates: update 41 failing for 61 s"]
    heartbeat.update_handled(41)
    assert (await client.get("/healthz")).status == 200


async def test_metrics_parse(web):
    desk, client, _ = web
    await customers.add_customer("ACME", "premium", "Acme", desk.clock.now())
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, desk.clock.now())
    await desk.say(GROUP, customer, "Всё упало")
    response = await client.get("/metrics")
    assert response.status == 200
    families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    open_incidents = {(s.labels["plan"], s.labels["priority"]): s.value
                      for s in families["dutydesk_open_incidents"].samples}
    assert open_incidents == {("premium", "P1"): 1.0}
    for name in ("dutydesk_updates_handled", "dutydesk_handler_errors", "dutydesk_notifications_sent",
                 "dutydesk_outbox_backlog", "dutydesk_outbox_oldest_pending_seconds", "dutydesk_pings_owed"):
        assert name in families


async def test_metrics_are_served_as_the_text_format_0_0_4(web):
    _, client, _ = web
    response = await client.get("/metrics")
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE dutydesk_updates_handled_total counter\ndutydesk_updates_handled_total " in await response.text()


async def test_a_command_delivered_twice_is_answered_once(web):
    """The update claim, not a message's own key, stops the double: a command stores no message."""
    desk, client, _ = web
    good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    for _ in range(2):
        assert (await client.post(WEBHOOK_PATH, json=update(20, "/customer_add ACME premium Acme"),
                                  headers=good)).status == 200
    assert desk.replies(LEAD) == [desk.replies(LEAD)[0]] and "ACME" in desk.replies(LEAD)[0]


async def test_a_claim_left_by_a_dead_instance_is_taken_over_after_two_minutes(web):
    from domain import updates
    from domain.models import ProcessedUpdate

    desk, client, _ = web
    good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    await ProcessedUpdate.create(update_id=30, state="handling", handled_at=desk.clock.now())  # then it died
    desk.clock.advance(updates.STALE - timedelta(seconds=1))
    # Maybe still being handled elsewhere: left alone, and not confirmed, so Telegram delivers it again.
    assert (await client.post(WEBHOOK_PATH, json=update(30, "/customers"), headers=good)).status == 503
    assert desk.replies(LEAD) == []
    desk.clock.advance(timedelta(seconds=2))
    assert (await client.post(WEBHOOK_PATH, json=update(30, "/customers"), headers=good)).status == 200
    assert len(desk.replies(LEAD)) == 1  # stale: taken over and handled
    assert (await ProcessedUpdate.get(update_id=30)).state == "done"
    assert (await client.post(WEBHOOK_PATH, json=update(30, "/customers"), headers=good)).status == 200
    assert len(desk.replies(LEAD)) == 1  # done is never taken over
