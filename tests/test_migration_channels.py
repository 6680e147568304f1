"""Migrations 0011 (channels) and 0015 (owed rows name conversations) keep the data: a database at the
previous schema (the real migrations up to 0010; 0012, the outbox as intents, runs before 0011), filled the
way a running desk fills it, is migrated, every incident, message, binding, inbox entry,
invitation and owed notification is there in the new shape, and the real program goes on with it: a
customer's reply threads into the old incident, a forum topic's message into its incident, the owed ping
goes out and the unbound inbox shows what waited. Runs on SQLite and, with TEST_DATABASE_URL, PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.migrations.api import migrate as run_migrations

from bot.db import tortoise_config
from tests import databases
from tests.conftest import make_env
from tests.people import CUSTOMER, ENGINEER, LEAD, customer, lead
from tests.process import STARTED_WITHIN, BotProcess

GROUP = -100500  # a bound group
FORUM = -100700  # a bound forum supergroup: an incident lives in a topic
LEFT = -100800  # a group unbound since: its old incident stays
UNBOUND = -100900  # wrote before anyone bound it
TOPIC = 77
PREVIOUS = "models.0010_person_tg_lang"


class Old:
    """Rows written with plain SQL in the previous schema, on either database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith(("postgres://", "postgresql://"))
        self.conn: Any = None

    async def __aenter__(self) -> Old:
        if self.pg:
            self.conn = await asyncpg.connect(self.url.replace("postgres://", "postgresql://", 1))
        else:
            import sqlite3

            self.conn = sqlite3.connect(self.url.removeprefix("sqlite://").split("?")[0])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.pg:
            await self.conn.close()
        else:
            self.conn.commit()
            self.conn.close()

    @staticmethod
    def _lite(value: Any) -> Any:
        if isinstance(value, datetime):
            return str(value)  # as tortoise writes it: "2026-11-26 10:00:00+00:00"
        if isinstance(value, date):
            return value.isoformat()
        return value

    async def insert(self, table: str, returning: bool = True, **row: Any) -> int | None:
        names = ", ".join(f'"{k}"' for k in row)
        values = [json.dumps(v) if isinstance(v, list | dict) else v for v in row.values()]
        if self.pg:
            marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
            sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks})' + (" RETURNING id" if returning else "")
            return await self.conn.fetchval(sql, *values)
        marks = ", ".join("?" for _ in row)
        cursor = self.conn.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', [self._lite(v) for v in values])
        return cursor.lastrowid if returning else None


async def build_previous(url: str, now: datetime) -> dict[str, int]:
    """The desk at schema 0010, as a day of work leaves it."""
    await run_migrations(config=tortoise_config(url), target=PREVIOUS)
    await Tortoise.close_connections()
    ago = lambda **kw: now - timedelta(**kw)  # noqa: E731
    ids: dict[str, int] = {}
    async with Old(url) as db:
        for pid, username, name in ((LEAD, "lead_anna", "Anna"), (ENGINEER, "eng_boris", "Boris"),
                                    (CUSTOMER, "client_cat", "Cat")):
            await db.insert("person", returning=False, id=pid, username=username, full_name=name, lang=None,
                            tg_lang="en", can_dm=True, last_seen=ago(hours=1))
        await db.insert("staff", user_id=LEAD, role="lead", active=True, added_at=ago(days=30), added_by=None,
                        via_config=True, role_before=None)
        await db.insert("staff", user_id=ENGINEER, role="engineer", active=True, added_at=ago(days=20),
                        added_by=LEAD, via_config=False, role_before=None)
        acme = await db.insert("customer", code="ACME", name="Acme", plan="24x7", users=10, cts=0, ha="none",
                               tz=None, lang="en", report="off", contract_until=None, engineer_id=ENGINEER,
                               contacts=["Ivan, +7 900 000-00-00"], incident_seq=4, created_at=ago(days=30))
        for shift in ("day", "night"):
            await db.insert("rotation", shift=shift, mode="daily", members=[ENGINEER], anchor=ago(days=10).date(),
                            updated_at=ago(days=10), updated_by=LEAD)
        for chat_id, title, kind in ((GROUP, "Acme support", "supergroup"), (FORUM, "Acme forum", "supergroup")):
            await db.insert("customer_chat", chat_id=chat_id, customer_id=acme, title=title, kind=kind, lang=None,
                            bound_at=ago(days=29), bound_by=LEAD, unreachable_since=None)
        await db.insert("invitation", token_hash="a" * 64, kind="chat", role=None, customer_id=acme,
                        created_by=LEAD, created_at=ago(days=29, hours=1), expires_at=ago(days=28),
                        used_at=ago(days=29), used_by=LEAD, used_chat=GROUP)

        def incident(number: int, chat_id: int, status: str, **extra: Any) -> dict[str, Any]:
            row = dict(key=f"ACME-{number}", number=number, customer_id=acme, plan="24x7", chat_id=chat_id,
                       thread_id=None, title=f"problem {number}", priority="P3", status=status, reporter_id=CUSTOMER,
                       assignee_id=None, opened_at=ago(hours=2), deadline=ago(hours=-6), responded_at=None,
                       responded_by=None, last_activity_at=ago(minutes=30), resolved_at=None, closed_at=None,
                       summary="", rating=None, contract_expired=False, next_due_at=ago(hours=-5), alert_stage=0)
            return {**row, **extra}

        ids["open"] = await db.insert("incident", **incident(1, GROUP, "new"))
        ids["resolved"] = await db.insert("incident", **incident(
            2, GROUP, "resolved", assignee_id=ENGINEER, responded_at=ago(hours=1), responded_by=ENGINEER,
            resolved_at=ago(minutes=40), summary="restarted the proxy", next_due_at=None))
        ids["topic"] = await db.insert("incident", **incident(3, FORUM, "in_progress", thread_id=TOPIC,
                                                             assignee_id=ENGINEER, responded_at=ago(hours=1),
                                                             responded_by=ENGINEER, next_due_at=None))
        ids["left"] = await db.insert("incident", **incident(4, LEFT, "closed", closed_at=ago(days=1),
                                                            next_due_at=None))
        messages = [  # (incident, chat, message id, author, source, text)
            ("open", GROUP, 10, CUSTOMER, "customer", "The portal is down"),
            ("open", GROUP, 11, None, "bot", "ACME-1 registered"),
            ("resolved", GROUP, 5, CUSTOMER, "customer", "Reports are slow"),
            ("resolved", GROUP, 6, ENGINEER, "staff", "Looking"),
            ("topic", FORUM, 40, CUSTOMER, "customer", "VPN drops in the topic"),
            ("left", LEFT, 3, CUSTOMER, "customer", "An old question"),
        ]
        for key, chat_id, message_id, author, source, text in messages:
            await db.insert("incident_message", incident_id=ids[key], chat_id=chat_id, message_id=message_id,
                            author_id=author, author="Cat" if author == CUSTOMER else "", source=source, text=text,
                            attachments=[], sent_at=ago(hours=2), edited_at=None)
        for kind in ("opened", "taken"):
            await db.insert("incident_event", incident_id=ids["topic"], at=ago(hours=1), actor_id=ENGINEER,
                            kind=kind, data={})
        await db.insert("unbound_chat", returning=False, chat_id=UNBOUND, title="Beta team", first_seen=ago(hours=3),
                        last_notice_at=ago(hours=3))
        for message_id, text in ((1, "hello, anyone?"), (2, "our mail is down")):
            await db.insert("unbound_message", chat_id=UNBOUND, message_id=message_id, user_id=CUSTOMER,
                            author="Cat", text=text, attachments=[], received_at=ago(hours=3))
        ids["ping"] = await db.insert(
            "outbox", kind="new", rank=0, chat_id=ENGINEER, text="🆕 ACME-1 · P3 · The portal is down (owed)",
            markup=None, photo=None, reply_to=None, thread_id=None, incident_id=ids["open"], drop_if_answered=False,
            fallback=True, dedupe=f"new:{ids['open']}:{ENGINEER}", status="pending", attempts=0, due_at=ago(minutes=1),
            claimed_at=None, created_at=ago(minutes=1), sent_at=None, message_id=None, error="")
        # A notice owed in the forum's topic, addressed by the chat's id: after 0015 it names the chat's
        # conversation, and still goes to the topic.
        ids["topic_notice"] = await db.insert(
            "outbox", kind="customer", rank=1, chat_id=FORUM, text="ACME-3: an engineer is on it (owed to the topic)",
            markup=None, photo=None, reply_to=40, thread_id=TOPIC, incident_id=ids["topic"], drop_if_answered=False,
            fallback=False, dedupe=None, status="pending", attempts=0, due_at=ago(minutes=1),
            claimed_at=None, created_at=ago(minutes=1), sent_at=None, message_id=None, error="")
    return ids


async def rows(url: str, sql: str) -> list[tuple]:
    return [tuple(r) for r in await databases.fetch(url, sql)]


async def test_channels_migration_keeps_the_desk_working(stub, tmp_path, database_url):
    now = datetime.now(UTC).replace(microsecond=0)
    ids = await build_previous(database_url, now)

    migrating = BotProcess(make_env(stub.url, database_url), tmp_path)
    await migrating.start("migrate")
    assert await asyncio.wait_for(migrating.proc.wait(), 120) == 0, migrating.log()

    # Bindings became Telegram conversations; the group unbound since keeps its incident, with no customer.
    conversations = {ref: (channel, customer_id is not None, title)
                     for channel, ref, customer_id, title in await rows(
                         database_url, "SELECT channel, ref, customer_id, title FROM conversation")}
    assert conversations == {str(GROUP): ("telegram", True, "Acme support"),
                             str(FORUM): ("telegram", True, "Acme forum"),
                             str(LEFT): ("telegram", False, "")}
    # Every incident points at the conversation of its old chat; the forum incident keeps its topic.
    incidents = {key: (ref, topic, status) for key, ref, topic, status in await rows(database_url, (
        "SELECT i.key, c.ref, i.topic, i.status FROM incident i JOIN conversation c ON c.id = i.conversation_id"))}
    assert incidents == {"ACME-1": (str(GROUP), None, "new"), "ACME-2": (str(GROUP), None, "resolved"),
                         "ACME-3": (str(FORUM), str(TOPIC), "in_progress"), "ACME-4": (str(LEFT), None, "closed")}
    # Every stored message, keyed by its conversation and its own reference.
    messages = sorted(await rows(database_url, (
        "SELECT i.key, c.ref, m.ref, m.source, m.text FROM incident_message m "
        "JOIN incident i ON i.id = m.incident_id JOIN conversation c ON c.id = m.conversation_id")))
    assert messages == sorted([
        ("ACME-1", str(GROUP), "10", "customer", "The portal is down"),
        ("ACME-1", str(GROUP), "11", "bot", "ACME-1 registered"),
        ("ACME-2", str(GROUP), "5", "customer", "Reports are slow"),
        ("ACME-2", str(GROUP), "6", "staff", "Looking"),
        ("ACME-3", str(FORUM), "40", "customer", "VPN drops in the topic"),
        ("ACME-4", str(LEFT), "3", "customer", "An old question"),
    ])
    assert sorted(await rows(database_url, "SELECT channel, ref, person_id FROM identity")) == sorted(
        [("telegram", str(pid), pid) for pid in (LEAD, ENGINEER, CUSTOMER)])
    assert await rows(database_url, "SELECT c.ref FROM invitation i JOIN conversation c "
                                    "ON c.id = i.used_conversation_id") == [(str(GROUP),)]
    assert sorted(await rows(database_url, "SELECT u.ref, m.ref, m.text FROM unbound_message m JOIN "
                                           "unbound_conversation u ON u.id = m.conversation_id")) == [
        (str(UNBOUND), "1", "hello, anyone?"), (str(UNBOUND), "2", "our mail is down")]
    assert await rows(database_url, f"SELECT status, person_id, chat_id FROM outbox WHERE id = {ids['ping']}") == [
        ("pending", ENGINEER, None)]
    # 0015: the notice owed to the forum names its conversation, not the Telegram chat id.
    assert await rows(database_url, "SELECT o.status, o.chat_id, c.ref FROM outbox o JOIN conversation c ON "
                                    f"c.id = o.conversation_id WHERE o.id = {ids['topic_notice']}") == [
        ("pending", None, str(FORUM))]
    assert sorted(await rows(database_url, "SELECT user_id, role FROM staff")) == [(LEAD, "lead"),
                                                                                  (ENGINEER, "engineer")]
    assert len(await rows(database_url, "SELECT shift FROM rotation")) == 2
    assert len(await rows(database_url, "SELECT id FROM incident_event")) == 2

    # The real program on the migrated database.
    stub.chat(GROUP, "Acme support")
    stub.chat(FORUM, "Acme forum", forum=True)
    stub.chat(UNBOUND, "Beta team")
    for chat_id, last in ((GROUP, 11), (FORUM, 40), (UNBOUND, 2)):
        stub.next_message_id[chat_id] = last + 1  # Telegram numbers on where the old messages stopped
    proc = BotProcess(make_env(stub.url, database_url), tmp_path / "run")
    (tmp_path / "run").mkdir()
    await proc.start()
    try:
        await stub.wait_for("getUpdates", timeout=STARTED_WITHIN)
        # The ping owed before the migration goes out.
        ping = (await stub.wait_for("sendMessage", lambda p: "(owed)" in p.get("text", ""), timeout=30))[0]
        assert int(ping.params["chat_id"]) == ENGINEER
        # The notice owed to the forum's chat goes out there, in its topic.
        owed = (await stub.wait_for("sendMessage", lambda p: "(owed to the topic)" in p.get("text", ""),
                                    timeout=30))[0]
        assert (int(owed.params["chat_id"]), int(owed.params["message_thread_id"])) == (FORUM, TOPIC)

        # A reply to the bot's old acknowledgement threads into ACME-1; no new incident opens.
        mark = stub.mark()
        await stub.send(GROUP, customer, "Still down, screenshot attached",
                        reply_to_message={"message_id": 11, "chat": stub.chats[GROUP], "date": 0, "text": "ACME-1"})
        # A message in the forum topic joins the topic's incident.
        await stub.send(FORUM, customer, "Dropped again", message_thread_id=TOPIC, is_topic_message=True)
        await stub.send(LEAD, lead, "/incident ACME-1")
        card = await stub.wait_text(LEAD, "ACME-1", since=mark)
        assert "problem 1" in card["text"]  # the old incident's card, read from the migrated rows
        await stub.send(LEAD, lead, "/unbound")
        inbox = await stub.wait_text(LEAD, "our mail is down", since=mark)
        assert "Beta team" in inbox["text"]
    finally:
        await proc.stop()

    joined = sorted(await rows(database_url, (
        "SELECT i.key, m.text FROM incident_message m JOIN incident i ON i.id = m.incident_id "
        "WHERE m.source = 'customer' AND m.text IN ('Still down, screenshot attached', 'Dropped again')")))
    assert joined == [("ACME-1", "Still down, screenshot attached"), ("ACME-3", "Dropped again")]
    assert len(await rows(database_url, "SELECT id FROM incident")) == 4  # nothing opened anew
    assert await rows(database_url, f"SELECT status FROM outbox WHERE id = {ids['ping']}") == [("sent",)]
    assert await rows(database_url, f"SELECT status FROM outbox WHERE id = {ids['topic_notice']}") == [("sent",)]
