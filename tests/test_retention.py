"""Retention: sent notifications, claims, used or expired invitations and the unbound inbox are deleted
after their retention by a daily clean-up; the unbound inbox is capped per chat; incidents stay."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.settings import load_settings
from domain import customers, people
from domain.errors import ConfigError
from domain.inbox import keep_unbound
from domain.models import (
    Customer,
    Incident,
    IncidentEvent,
    IncidentMessage,
    Invitation,
    JobClaim,
    Outbox,
    ParkedUpdate,
    UnboundConversation,
    UnboundMessage,
)
from domain.retention import Retention, clean
from scheduler.jobs import Heartbeat, Tick
from tests.channels import telegram_message, tg, tg_conversation
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.people import GROUP, LEAD, OTHER_GROUP, lead, stranger
from tests.stub_api import TOKEN

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=31)  # past the 30-day defaults
RECENT = NOW - timedelta(days=29)
DAYS_30 = Retention()


# ---- settings ------------------------------------------------------------------------------------
def test_retention_settings_defaults_and_values():
    assert load_settings({"BOT_TOKEN": TOKEN}).retention == Retention(
        outbox=timedelta(days=30), invitations=timedelta(days=30), claims=timedelta(days=30),
        unbound=timedelta(days=30), unbound_per_chat=200)
    s = load_settings({"BOT_TOKEN": TOKEN, "RETENTION_OUTBOX": "7d", "RETENTION_INVITATIONS": "90d",
                       "RETENTION_CLAIMS": "2d", "RETENTION_UNBOUND": "14d", "UNBOUND_PER_CHAT": "50"})
    assert s.retention == Retention(timedelta(days=7), timedelta(days=90), timedelta(days=2), timedelta(days=14), 50)


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("RETENTION_OUTBOX", "forever", "a duration of at least 1d, like 7d, 30d or 90d"),
    ("RETENTION_OUTBOX", "0d", "a duration of at least 1d, like 7d, 30d or 90d"),
    ("RETENTION_CLAIMS", "12h", "a duration of at least 1d, like 7d, 30d or 90d"),  # a report's grace is a day
    ("RETENTION_INVITATIONS", "30", "a duration of at least 1d, like 7d, 30d or 90d"),
    ("RETENTION_UNBOUND", "-1d", "a duration of at least 1d, like 7d, 30d or 90d"),
    ("UNBOUND_PER_CHAT", "0", "a whole number from 1 to 100000"),
    ("UNBOUND_PER_CHAT", "lots", "a whole number from 1 to 100000"),
    ("UNBOUND_PER_CHAT", "1000001", "a whole number from 1 to 100000"),
])
def test_bad_retention_setting_stops_with_one_line(name, value, allowed):
    with pytest.raises(ConfigError) as exc:
        load_settings({"BOT_TOKEN": TOKEN, name: value})
    assert str(exc.value) == f"{name}={value!r} is invalid; expected {allowed}"


def test_every_retention_setting_is_in_the_example_env():
    example = (Path(__file__).resolve().parent.parent / "config.example.env").read_text()
    for name in ("RETENTION_OUTBOX", "RETENTION_INVITATIONS", "RETENTION_CLAIMS", "RETENTION_UNBOUND",
                 "UNBOUND_PER_CHAT"):
        assert f"\n{name}=" in example, name
    values = dict(line.split("=", 1) for line in example.splitlines() if "=" in line and not line.startswith("#"))
    defaults = load_settings({"BOT_TOKEN": TOKEN}).retention
    assert load_settings({**values, "BOT_TOKEN": TOKEN}).retention == defaults


# ---- what the clean-up deletes -----------------------------------------------------------------
async def outbox_row(status: str, created: datetime, **extra) -> int:
    row = await Outbox.create(kind="report", person_id=LEAD, params={"text": f"{status} {created}"}, status=status,
                              due_at=created, created_at=created, **extra)
    return row.id


async def invitation(name: str, created: datetime, used: datetime | None = None) -> None:
    await Invitation.create(token_hash=name.ljust(64, "0"), kind="staff", role="engineer", created_by=LEAD,
                            created_at=created, expires_at=created + timedelta(days=7), used_at=used)


async def unbound(chat_id: int, message_id: int, at: datetime, title: str = "Stranger's group") -> None:
    chat, _ = await UnboundConversation.get_or_create(**tg(chat_id), defaults={"title": title, "first_seen": at})
    await UnboundMessage.create(conversation=chat, ref=str(message_id), text=f"spam {message_id}", received_at=at)


async def test_clean_deletes_only_what_is_past_its_retention(db):
    # An incident from long ago, with its messages, events and notices: the record stays.
    await customers.add_customer("ACME", "8x5", "Acme", OLD - timedelta(days=400))
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, OLD - timedelta(days=400))
    acme = await Customer.get(code="ACME")
    ancient = OLD - timedelta(days=365)
    chat = await tg_conversation(GROUP)
    incident = await Incident.create(key="ACME-1", number=1, customer=acme, plan="8x5", conversation=chat,
                                     title="old", priority="P3", opened_at=ancient, last_activity_at=ancient,
                                     status="closed")
    await IncidentMessage.create(incident=incident, conversation=chat, ref="1", source="customer", text="help",
                                 sent_at=ancient)
    await IncidentEvent.create(incident=incident, at=ancient, kind="opened")

    gone = [await outbox_row("sent", OLD, photo=b"\x89PNG" * 1000, incident=incident),
            await outbox_row("dropped", OLD), await outbox_row("failed", OLD)]
    kept = [await outbox_row("sent", RECENT), await outbox_row("pending", OLD), await outbox_row("sending", OLD)]

    await invitation("used_long_ago", OLD - timedelta(days=2), used=OLD)
    await invitation("expired_long_ago", OLD - timedelta(days=8))  # expired at OLD - 1d
    await invitation("used_recently", OLD, used=RECENT)
    await invitation("expired_recently", RECENT - timedelta(days=7))  # expired at RECENT
    await invitation("still_valid", NOW - timedelta(days=1))

    for status, resolved in (("replayed", OLD), ("dismissed", OLD), ("dismissed", RECENT), ("parked", None)):
        await ParkedUpdate.create(payload="{}", reason="failing", status=status, parked_at=OLD, resolved_at=resolved)

    await JobClaim.create(key="handover:day:2026-04-30", claimed_at=OLD)
    await JobClaim.create(key="handover:day:2026-05-30", claimed_at=RECENT)

    await unbound(-1, 1, OLD)  # a chat whose every message is old: it goes too
    await unbound(-2, 1, OLD)
    await unbound(-2, 2, RECENT)

    removed = await clean(NOW, DAYS_30)

    assert removed == {"outbox": 3, "parked": 2, "invitations": 2, "claims": 1, "unbound": 2, "unbound_chats": 1}
    assert sorted(await ParkedUpdate.all().values_list("status", flat=True)) == ["dismissed", "parked"]
    assert sorted(await Outbox.all().values_list("id", flat=True)) == sorted(kept)
    assert not await Outbox.filter(id__in=gone).exists()
    assert sorted(await Invitation.all().values_list("token_hash", flat=True)) == sorted(
        n.ljust(64, "0") for n in ("used_recently", "expired_recently", "still_valid"))
    assert await JobClaim.all().values_list("key", flat=True) == ["handover:day:2026-05-30"]
    assert await UnboundMessage.all().values_list("conversation__ref", "ref") == [("-2", "2")]
    assert await UnboundConversation.all().values_list("ref", flat=True) == ["-2"]
    # The record is kept whole.
    assert await Incident.filter(key="ACME-1").exists()
    assert await IncidentMessage.filter(incident=incident).count() == 1
    assert await IncidentEvent.filter(incident=incident).count() == 1
    assert await clean(NOW, DAYS_30) == dict.fromkeys(removed, 0)  # nothing more to do


async def test_clean_works_through_a_backlog_in_batches(db):
    await Outbox.bulk_create([Outbox(kind="ack", person_id=LEAD, params={"text": "x"}, status="sent", due_at=OLD, created_at=OLD)
                              for _ in range(2500)])
    await outbox_row("pending", OLD)
    assert (await clean(NOW, DAYS_30))["outbox"] == 2500
    assert await Outbox.all().count() == 1


async def test_clean_caps_chats_that_grew_before_the_cap(db):
    for n in range(1, 8):
        await unbound(-5, n, RECENT + timedelta(minutes=n))
    await unbound(-6, 1, RECENT)
    removed = await clean(NOW, Retention(unbound_per_chat=3))
    assert removed["unbound"] == 4
    assert await UnboundMessage.filter(conversation__ref=str(-5)).order_by("id").values_list("ref", flat=True) == [
        "5", "6", "7"]
    assert await UnboundMessage.filter(conversation__ref=str(-6)).count() == 1


async def test_intake_keeps_the_newest_messages_of_an_unbound_chat(db):
    for n in range(1, 11):
        msg = telegram_message(chat_id=-7, message_id=n, user_id=9, author="Eve", text=f"spam {n}", attachments=[],
                              sent_at=NOW, chat_title="Spam")
        await keep_unbound(msg, NOW + timedelta(seconds=n), keep=4)
    assert await UnboundMessage.filter(conversation__ref=str(-7)).order_by("id").values_list("ref", flat=True) == [
        "7", "8", "9", "10"]


# ---- the daily job and the handler ------------------------------------------------------------
@pytest.fixture
async def small_desk(stub, db):
    """The real Dispatcher with UNBOUND_PER_CHAT=3."""
    clock = FrozenClock(datetime(2026, 6, 1, 2, 0, tzinfo=MSK).astimezone(UTC))
    settings = load_settings(make_env(stub.url, db, UNBOUND_PER_CHAT="3"))
    await people.ensure_leads(settings.lead_ids, clock.now())
    desk = Desk(stub, settings, clock)
    desk.tick = Tick(settings, clock, desk.dp["desk"].sla, Heartbeat())
    yield desk
    if desk.bot.session._session is not None:
        await desk.bot.session._session.close()


async def test_a_stranger_flooding_an_unbound_group_is_capped(small_desk):
    small_desk.stub.chat(OTHER_GROUP, "Spam group")
    for n in range(6):
        await small_desk.say(OTHER_GROUP, stranger, f"buy now {n}")
    kept = await UnboundMessage.filter(conversation__ref=str(OTHER_GROUP)).order_by("id").values_list("text", flat=True)
    assert kept == ["buy now 3", "buy now 4", "buy now 5"]
    await small_desk.say(LEAD, lead, "/unbound")
    listing = small_desk.last_reply(LEAD)
    assert "buy now 5" in listing and "buy now 2" not in listing


async def test_the_clean_up_runs_once_a_day_after_three(small_desk):
    desk = small_desk

    async def stale_row() -> int:  # sent 31 days before the test's day: past the 30-day default
        return await outbox_row("sent", desk.clock.now() - timedelta(days=31))

    first = await stale_row()
    desk.clock.set(datetime(2026, 6, 1, 2, 59, tzinfo=MSK))
    await desk.tick.run()
    assert await Outbox.filter(id=first).exists()  # not before 03:00
    desk.clock.set(datetime(2026, 6, 1, 3, 0, tzinfo=MSK))
    await desk.tick.run()
    assert not await Outbox.filter(id=first).exists()
    assert await JobClaim.exists(key="cleanup:2026-06-01")

    second = await stale_row()
    desk.clock.set(datetime(2026, 6, 1, 23, 0, tzinfo=MSK))
    await desk.tick.run()
    assert await Outbox.filter(id=second).exists()  # once a day: done today already
    desk.clock.set(datetime(2026, 6, 2, 3, 0, 15, tzinfo=MSK))
    await desk.tick.run()
    assert not await Outbox.filter(id=second).exists()
    assert desk.tick.heartbeat.errors == 0
