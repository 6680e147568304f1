"""Notices are intents: the outbox holds what is owed, and the Telegram channel renders it in its reader's
language when it sends it. Rows written before (migration 0012) still go out as they were written."""

import base64
import json
from datetime import timedelta

import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate as run_migrations

from bot.db import close_database, migrate, open_database, tortoise_config
from bot.settings import load_settings
from domain import channels, customers, outbox, people
from domain.models import Incident, Outbox, Person
from domain.oncall import Occurrence
from domain.text import split
from locales import duty_text, t
from tests import fixtures
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer, lead
from tests.stub_api import SERVER_ERROR

acme = fixtures.acme  # its fixture


def texts_to(desk, chat_id, since=0):
    return [c.params.get("text", "") for c in desk.stub.find("sendMessage", since)
            if int(c.params["chat_id"]) == chat_id]


async def test_a_lead_who_switched_language_before_the_send_reads_the_new_one(desk):
    now = desk.clock.now()
    say = outbox.say("edges_outbox.chat_lost", code="ACME", name="Acme", title="Acme support")
    await outbox.enqueue("notice", outbox.person(LEAD), now, params=say)
    start = now + timedelta(days=1)
    found = [Occurrence("night", start.date(), start, start + timedelta(hours=9))]
    await outbox.enqueue("gaps", outbox.person(LEAD), now, params={"found": [outbox.shift(o) for o in found]})
    mark = desk.stub.mark()
    await desk.say(LEAD, lead, "/lang ru")  # owed in English; the courier sends right after the answer
    sent = texts_to(desk, LEAD, mark)
    assert t("ru", "edges_outbox.chat_lost", code="ACME", name="Acme", title="Acme support") in sent
    assert duty_text.gaps("ru", found, desk.settings.timezone, desk.clock.now()) in sent
    assert t("en", "edges_outbox.chat_lost", code="ACME", name="Acme", title="Acme support") not in sent


async def test_a_rerouted_ping_reads_wholly_in_the_language_of_whoever_gets_it(acme):
    await acme.say(GROUP, customer, "Сервер не отвечает")
    incident = await Incident.get(key="ACME-1")
    await people.seen(LEAD, "lead_anna", "Anna", acme.clock.now())
    await Person.filter(id=LEAD).update(lang="ru")
    acme.stub.forbidden_chats.add(ENGINEER)  # the engineer blocked the bot: their ping goes to the lead
    mark = acme.stub.mark()
    await outbox.enqueue("new", outbox.person(ENGINEER), acme.clock.now(), rank=outbox.RANK_PING,
                         incident_id=incident.id, fallback=True, dedupe="test-ping")
    await acme.flush()
    note = t("ru", "outbox.rerouted", name=await people.display_name(ENGINEER))
    rerouted = [c.params for c in acme.stub.find("sendMessage", mark)
                if int(c.params["chat_id"]) == LEAD and c.params["text"].startswith(note)]
    assert len(rerouted) == 1, (note, texts_to(acme, LEAD, mark))
    assert t("ru", "words.ping.take_hint") in rerouted[0]["text"]  # the ping itself in Russian too
    assert t("en", "words.ping.take_hint") not in rerouted[0]["text"]
    buttons = [b["text"] for row in rerouted[0]["reply_markup"]["inline_keyboard"] for b in row]
    assert t("ru", "ping.take") in buttons


async def test_a_long_notice_in_parts_never_repeats_a_part_even_if_its_reader_switches_language(acme):
    body = "\n".join(f"line {n}: " + "x" * 40 for n in range(300))
    say = outbox.say("announce.text", text=body, contacts="Ivan")
    await outbox.enqueue("notice", outbox.person(LEAD), acme.clock.now(), params=say)
    parts = split(t("en", "announce.text", text=body, contacts="Ivan"))
    assert len(parts) > 1
    original = acme.stub._m_sendMessage
    calls = {"n": 0}

    async def flaky(params):
        calls["n"] += 1
        if calls["n"] == 1:  # the first part is delivered, and the second then meets a 500
            acme.stub.faults["sendMessage"] = [SERVER_ERROR]
        return await original(params)

    acme.stub._m_sendMessage = flaky
    await acme.outbox.drain_once()
    await people.seen(LEAD, "lead_anna", "Anna", acme.clock.now())
    await Person.filter(id=LEAD).update(lang="ru")  # the rest was written when the first part went out
    for _ in range(4):
        acme.clock.advance(timedelta(seconds=5))
        await acme.outbox.drain_once()
    texts = [m["text"] for m in acme.stub.delivered if int(m["chat_id"]) == LEAD]
    assert texts == parts  # each part once, in order, in the words the first part began
    assert (await Outbox.get(kind="notice")).status == "sent"


async def test_a_row_for_a_channel_nobody_configured_fails_with_its_name(desk):
    await outbox.enqueue("notice", outbox.chat(7, channel="pigeon"), desk.clock.now(),
                         params=outbox.say("announce.no_contacts"))
    await desk.flush()
    row = await Outbox.get()
    assert (row.status, row.error) == ("failed", "no channel 'pigeon' is configured")


def test_a_channel_registers_once_by_name(desk):
    registry = channels.Channels()
    telegram = desk.outbox.channels.get("telegram")
    registry.register(telegram)
    assert registry.get("telegram") is telegram and registry.get("email") is None
    assert isinstance(telegram, channels.Channel)
    with pytest.raises(ValueError):
        registry.register(telegram)


async def test_rows_owed_before_the_upgrade_still_go_out_and_a_sent_ping_is_still_edited(stub, database_url):
    """A database at 0010 with rows of the old shape (finished text, Telegram JSON, a photo, a topic, a
    reply): after the upgrade the pending ones go out as written, and a ping sent before it is rewritten when
    its incident is taken."""
    await run_migrations(config=tortoise_config(database_url), target="models.0010_person_tg_lang")
    client = connections.get("default")
    postgres = client.capabilities.dialect == "postgres"
    now = FrozenClock().now()
    markup = {"inline_keyboard": [[{"text": "Take", "callback_data": "take:1"}]]}
    columns = "kind, rank, chat_id, text, markup, photo, reply_to, thread_id, status, attempts, due_at, created_at, " \
              "message_id, error, drop_if_answered, fallback"
    marks = ", ".join(f"${n}" if postgres else "?" for n in range(1, 17))
    rows = [
        ("new", 0, ENGINEER, "🆕 old ping\n\nPress Take to handle it.", json.dumps(markup), None, None, None,
         "pending", 0, now, now, None, "", True, True),
        ("report", 2, GROUP, "Old report", None, b"\x89PNG old", 5, 7, "pending", 0, now, now, None, "", False, False),
        ("new", 0, LEAD, "🆕 sent ping\n\n" + t("en", "words.ping.take_hint"), json.dumps(markup), None, None, None,
         "sent", 1, now, now, 42, "", True, True),
    ]
    for row in rows:
        await client.execute_query(f"INSERT INTO outbox ({columns}) VALUES ({marks})", list(row))
    await Tortoise.close_connections()

    await migrate(database_url)
    await open_database(database_url, apply_migrations=False)
    try:
        settings = load_settings(make_env(stub.url, database_url))
        clock = FrozenClock()
        await people.ensure_leads(settings.lead_ids, clock.now())
        await people.register_staff(ENGINEER, "engineer", None, clock.now())
        desk = Desk(stub, settings, clock)
        converted = {row.kind + str(row.person_id or row.chat_id): row for row in await Outbox.all()}
        assert converted[f"new{ENGINEER}"].params == {"text": rows[0][3], "markup": markup}
        assert converted[f"report{GROUP}"].params == {
            "text": "Old report", "photo": base64.b64encode(b"\x89PNG old").decode(), "reply_to": 5, "topic": 7}
        assert converted[f"new{LEAD}"].person_id == LEAD and converted[f"new{LEAD}"].chat_id is None

        await desk.flush()
        (ping,) = [c.params for c in stub.find("sendMessage") if int(c.params["chat_id"]) == ENGINEER]
        assert ping["text"] == rows[0][3] and ping["reply_markup"] == markup
        (photo,) = [c.params for c in stub.find("sendPhoto") if int(c.params["chat_id"]) == GROUP]
        assert (photo["caption"], int(photo["message_thread_id"]), photo["reply_parameters"]["message_id"]) == \
            ("Old report", 7, 5)

        # The ping sent before the upgrade is rewritten once someone takes its incident.
        await customers.add_customer("ACME", "24x7", "Acme", clock.now())
        await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, clock.now())
        stub.chat(GROUP, "Acme")
        await desk.say(GROUP, customer, "Не работает")
        incident = await Incident.get(key="ACME-1").select_related("customer")
        await Outbox.filter(id=converted[f"new{LEAD}"].id).update(incident_id=incident.id)
        stub.messages.setdefault(LEAD, set()).add(42)
        await people.seen(ENGINEER, "eng_boris", "Boris", clock.now())
        await desk.say(GROUP, engineer, "/take")
        (edit,) = [c.params for c in stub.find("editMessageText") if int(c.params["message_id"]) == 42]
        assert edit["text"].startswith("🆕 sent ping") and t("en", "words.ping.take_hint") not in edit["text"]
        assert "Boris" in edit["text"] or "eng_boris" in edit["text"]
        assert not (edit.get("reply_markup") or {}).get("inline_keyboard")  # Take is gone
        await desk.bot.session.close()
    finally:
        await close_database()
