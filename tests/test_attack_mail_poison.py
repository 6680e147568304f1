"""Hostile mail that the intake cannot store: one such mail must not stop the mailbox.

The IMAP loop takes mails in UID order and retries a mail whose intake raised, forever: so a mail whose
values the database refuses (a NUL character on PostgreSQL, an address longer than the column) is
fetched again and again, and every mail behind it, from every customer, is never read.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import pytest

import handlers.email.imap as imap_module
from bot.settings import load_settings
from domain import customers, mailbox
from domain.intake import Windows
from domain.models import Incident, IncidentMessage, MailIn, UnboundMessage
from domain.sla import Sla
from handlers.email.intake import make_deliver
from handlers.email.parser import parse_mail
from tests import databases
from tests.clock import FrozenClock
from tests.mail_servers import wait_for
from tests.stub_api import TOKEN
from tests.test_email_imap import folder, imap_server, make_loop, running  # noqa: F401 (fixtures)

WINDOWS = Windows(thread=timedelta(hours=4), reopen=timedelta(hours=72))
MULTIPART = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
QP = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"


def raw(sender: str = "Ivan <ivan@acme.ru>", subject: str = "hi", body: str = "body", mid: str = "<p1@acme.ru>",
        extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: support@vendor.example\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n"
            f"{extra}\r\n{body}\r\n").encode()


async def acme(clock: FrozenClock) -> Sla:
    await customers.add_customer("ACME", "24x7", "Acme", clock.now())
    await customers.bind_email(await customers.get_customer("ACME"), "acme.ru", "domain", None, clock.now())
    return Sla(load_settings({"BOT_TOKEN": TOKEN}).policy)


def good_mail() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Ivan <ivan@acme.ru>", "support@vendor.example", "Production is down"
    msg["Message-ID"] = "<good-1@acme.ru>"
    msg.set_content("Nobody can log in.")
    return msg


# One header each, from anyone (`Message-ID: <a@[>` is left to the parser test below: pymap itself refuses
# to store it, a real server does not): the intake (a value the database refuses) or the parser itself (the standard
# `email` package raising on a malformed header the parser does not guard) fails on the mail every time.
POISONS = {
    "long_address": raw(sender="<" + "a" * 400 + "@stranger.example>", mid="<poison-1@stranger.example>"),
    "bare_star_parameter": raw(sender="x@stranger.example", mid="<poison-1@stranger.example>",
                               extra="Content-Disposition: attachment; filename*\r\n"),
}


@pytest.mark.parametrize("poison", list(POISONS))
async def test_one_bad_mail_does_not_stop_the_mailbox(db, imap_server, folder, poison):  # noqa: F811
    clock = FrozenClock()
    sla = await acme(clock)
    await imap_server.deliver(folder, POISONS[poison], good_mail())
    deliver = make_deliver("support@vendor.example", sla, WINDOWS, clock)
    attempts: dict[str, int] = {}
    real_parse = imap_module.parse_mail

    def counting(data, *args, **kwargs):  # counts every attempt, also those where parsing itself raises
        key = "good" if b"<good-1@acme.ru>" in data else "poison"
        attempts[key] = attempts.get(key, 0) + 1
        return real_parse(data, *args, **kwargs)

    imap_module.parse_mail = counting
    try:
        loop = make_loop(imap_server.url(folder), deliver, clock)
        async with running(loop):
            # Either the good mail is taken, or the loop has tried the poison three times and is stuck on it.
            async def settled() -> bool:
                return attempts.get("poison", 0) >= 3 or await Incident.filter(title="Production is down").exists()
            await wait_for(settled)
    finally:
        imap_module.parse_mail = real_parse
    assert await Incident.filter(title="Production is down").exists(), \
        f"the customer's mail behind it was never read: {attempts}, {loop.health.last_error[:80]}"


@pytest.mark.parametrize("data", [b"Message-ID:<a@[>", b"Content-Disposition:;e*", b"Content-Disposition:;e*=\x00''f"])
def test_the_parser_never_raises(data):
    parse_mail(b"From: x@stranger.example\r\n" + data + b"\r\n\r\nbody")


def _multipart_with(filename_header: str) -> bytes:
    body = ("--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream"
            f"\r\nContent-Disposition: attachment; filename=\"{filename_header}\"\r\n\r\nxx\r\n--b--")
    return raw(body=body, extra=MULTIPART)


# Each mail carries a NUL character (legal in quoted-printable, base64 and RFC 2047 encoded words) in one
# value the desk stores. PostgreSQL refuses NUL in text and jsonb, so the intake raises there (and the
# mailbox is stuck as above); on SQLite the NUL is stored and later breaks whatever reads it.
NUL_MAILS = {
    "body": raw(body="before=00after", extra=QP),
    "subject": raw(subject="=?utf-8?q?before=00after?="),
    "display_name": raw(sender="=?utf-8?q?Iv=00an?= <ivan@acme.ru>"),
    "message_id": raw(mid="<p\x001@acme.ru>"),
    "attachment_name": _multipart_with("=?utf-8?q?a=00b.log?="),
    "unbound_body": raw(sender="x@stranger.example", body="before=00after", extra=QP),
}


@pytest.mark.parametrize("where", list(NUL_MAILS))
async def test_nul_characters_are_taken_in_without_nul(db, where):
    clock = FrozenClock()
    sla = await acme(clock)
    deliver = make_deliver("support@vendor.example", sla, WINDOWS, clock)
    parsed = parse_mail(NUL_MAILS[where])
    outcome = await mailbox.take_in("box", 1, 1, parsed.message_id, parsed.sender, clock.now(),
                                    lambda: deliver(parsed))
    assert outcome in {"intake", "unbound"}
    stored = [repr(m) for m in await IncidentMessage.all().values("ref", "author", "text", "attachments")]
    stored += [repr(m) for m in await UnboundMessage.all().values("ref", "author", "text", "attachments")]
    stored += [repr(m) for m in await Incident.all().values("title")]
    stored += [repr(m) for m in await MailIn.all().values("message_id")]
    assert stored and not any("\\x00" in s for s in stored), stored


@pytest.mark.skipif(not databases.on_postgres(), reason="SQLite allows far more query arguments")
async def test_a_huge_references_header_is_taken_in(db):
    clock = FrozenClock()
    sla = await acme(clock)
    deliver = make_deliver("support@vendor.example", sla, WINDOWS, clock)
    refs = " ".join(f"<r{i}@x>" for i in range(40000))
    parsed = parse_mail(raw(extra=f"References: {refs}\r\n"))
    outcome = await mailbox.take_in("box", 1, 1, parsed.message_id, parsed.sender, clock.now(),
                                    lambda: deliver(parsed))
    assert outcome == "intake"
