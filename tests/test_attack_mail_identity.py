"""Who wrote a mail: the desk must take the sender's address as the mail system does (RFC 5322's angle
address), else a stranger passes the receiving server's SPF/DKIM/DMARC checks with a domain of their own
and is taken in as a bound customer; and a mail seen before is one mail, not any mail with its Message-ID."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.settings import load_settings
from domain import customers, mailbox
from domain.intake import Windows
from domain.models import Incident, IncidentMessage
from domain.sla import Sla
from handlers.email.intake import make_deliver
from handlers.email.parser import parse_mail
from tests.clock import FrozenClock
from tests.stub_api import TOKEN

WINDOWS = Windows(thread=timedelta(hours=4), reopen=timedelta(hours=72))
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def raw(sender: str, subject: str = "Please reset the VPN password", body: str = "Send it to me here.",
        mid: str | None = "<f1@evil.example>", extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: support@vendor.example\r\nSubject: {subject}\r\n"
            + (f"Message-ID: {mid}\r\n" if mid else "") + f"{extra}\r\n{body}\r\n").encode()


@pytest.fixture
async def desk_intake(db):
    clock = FrozenClock(NOW)
    for code in ("ACME", "BETA"):
        await customers.add_customer(code, "24x7", code.title(), clock.now())
    await customers.bind_email(await customers.get_customer("ACME"), "acme.ru", "domain", None, clock.now())
    await customers.bind_email(await customers.get_customer("BETA"), "beta.example", "domain", None, clock.now())
    deliver = make_deliver("support@vendor.example", Sla(load_settings({"BOT_TOKEN": TOKEN}).policy), WINDOWS, clock)
    uids = iter(range(1, 1000))

    async def take(data: bytes) -> str | None:
        parsed = parse_mail(data)
        return await mailbox.take_in("box", 1, next(uids), parsed.message_id, parsed.sender, clock.now(),
                                     lambda: deliver(parsed))
    return take


# The address after the display name is the mailbox the mail came from: the mail server, DMARC and every
# mail program say evil.example (Gmail shows `ivan@acme.ru <attacker@evil.example>`). The desk's
# `parseaddr(str(header))` reads the policy's "fixed" header, which keeps the phrase and drops the address.
SPOOFS = [
    "ivan@acme.ru <attacker@evil.example>",
    "ivan@acme.ru)<attacker@evil.example>",
]


@pytest.mark.parametrize("sender", SPOOFS)
async def test_a_display_name_is_not_the_sender(desk_intake, sender):
    outcome = await desk_intake(raw(sender))
    assert outcome == "unbound"
    assert not await Incident.exists()


async def test_an_encoded_word_is_no_address(desk_intake):
    outcome = await desk_intake(raw("=?utf-8?b?aXZhbkBhY21lLnJ1?="))
    assert not await Incident.exists(), outcome


async def test_a_quoted_display_name_is_read_right(desk_intake):
    """Held: the quoted form of the same trick is read as the mail system reads it."""
    assert await desk_intake(raw('"ivan@acme.ru" <attacker@evil.example>')) == "unbound"
    assert await desk_intake(raw("attacker@evil.example (ivan@acme.ru)", mid="<f2@evil.example>")) == "unbound"
    assert not await Incident.exists()


async def test_a_reused_message_id_does_not_drop_another_mail(desk_intake):
    # Monitoring scripts and broken mailers reuse fixed Message-IDs; anyone who was copied on a mail knows its
    # id. Customer A's mail first, then Beta's different mail with the same id.
    assert await desk_intake(raw("ivan@acme.ru", "Disk full on db1", "db1 / is at 100%", mid="<alert@monitor>")) \
        == "intake"
    outcome = await desk_intake(raw("ops@beta.example", "Payments are down", "Card payments fail since 03:10",
                                    mid="<alert@monitor>"))
    assert outcome == "intake"
    assert await Incident.filter(customer__code="BETA").exists()


async def test_mails_without_message_id_differ_by_their_text(desk_intake):
    first = raw("ivan@acme.ru", "Alert", "db1 is down", mid=None)
    second = raw("ivan@acme.ru", "Alert", "db2 is down", mid=None)
    assert await desk_intake(first) in {"intake", "joined"}
    assert await desk_intake(second) in {"intake", "joined"}
    texts = await IncidentMessage.all().values_list("text", flat=True)
    assert any("db2 is down" in text for text in texts), texts


async def test_a_forged_mail_is_not_echoed_to_the_customer(db):
    clock = FrozenClock(NOW)
    await customers.add_customer("ACME", "24x7", "Acme", clock.now())
    await customers.bind_email(await customers.get_customer("ACME"), "acme.ru", "domain", None, clock.now())
    owed = []

    async def on_created(incident, ref, now, acknowledge):
        owed.append((incident.title, acknowledge))

    deliver = make_deliver("support@vendor.example", Sla(load_settings({"BOT_TOKEN": TOKEN}).policy), WINDOWS, clock,
                           on_created=on_created)
    forged = raw("Finance <cfo@acme.ru>", "Password expired: sign in at http://acme-login.evil.example now",
                 extra="Authentication-Results: mx.vendor.example; spf=fail smtp.mailfrom=evil.example; "
                       "dkim=none; dmarc=fail (p=none) header.from=acme.ru\r\n")
    parsed = parse_mail(forged)
    await mailbox.take_in("box", 1, 1, parsed.message_id, parsed.sender, clock.now(), lambda: deliver(parsed))
    assert not any(acknowledged for _, acknowledged in owed), owed


async def test_an_unquoted_comma_in_the_name_keeps_the_customer(desk_intake):
    outcome = await desk_intake(raw("Ivan Petrov, Acme <ivan@acme.ru>", "Server down", "nobody can log in"))
    assert outcome == "intake"
    assert await Incident.filter(customer__code="ACME").exists()
