"""The mailbox as the running program wires it (`bot.app.start_mailbox`), against a real IMAP server:
what a customer's answer to a resolved incident does, and what machine mail does to a resolved incident;
plus the acknowledgement limit against a forged flood."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from email.message import EmailMessage

import pytest

from bot.app import start_mailbox
from bot.settings import load_settings
from domain import customers, people
from domain.intake import Windows
from domain.mail_intake import IncomingMail, take_mail
from domain.mail_rules import MailFacts
from domain.models import Incident, MailIn, Outbox
from domain.sla import Sla
from tests.clock import FrozenClock
from tests.conftest import make_env
from tests.mail_servers import wait_for
from tests.people import LEAD
from tests.test_email_imap import folder, imap_server  # noqa: F401 (fixtures)

DESK = "support@vendor.example"


def mail(subject: str, body: str, sender: str = "Иван Петров <ivan@acme.ru>", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, DESK, subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@acme.ru>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


@contextlib.asynccontextmanager
async def mailbox_running(db, url: str, clock: FrozenClock):
    settings = load_settings(make_env("http://127.0.0.1:1", db, MAIL_IMAP_URL=url, MAIL_SMTP_URL="smtp://127.0.0.1:1",
                                      MAIL_FROM=f"Vendor Support <{DESK}>", MAIL_POLL="1s"))
    loop, task = start_mailbox(settings, clock)
    try:
        yield loop
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def resolved_acme_1(db, imap_server, folder, clock) -> None:  # noqa: F811
    await people.ensure_leads([LEAD], clock.now())
    await customers.add_customer("ACME", "24x7", "Acme", clock.now())
    await customers.bind_email(await customers.get_customer("ACME"), "acme.ru", "domain", None, clock.now())
    await imap_server.deliver(folder, mail("Сервер недоступен", "Никто не может войти"))
    async with mailbox_running(db, imap_server.url(folder), clock) as loop:
        await wait_for(lambda: loop.turns >= 1)
    assert await Incident.filter(key="ACME-1").exists()
    clock.advance(timedelta(hours=1))
    await Incident.filter(key="ACME-1").update(status="resolved", resolved_at=clock.now())
    clock.advance(timedelta(hours=1))


async def test_a_reopening_mail_tells_the_customer(db, imap_server, folder):  # noqa: F811
    clock = FrozenClock()
    await resolved_acme_1(db, imap_server, folder, clock)
    before = await Outbox.all().count()
    await imap_server.deliver(folder, mail("Re: [ACME-1] Сервер недоступен", "Опять не работает!"))
    async with mailbox_running(db, imap_server.url(folder), clock) as loop:
        await wait_for(lambda: loop.turns >= 1)
    assert (await Incident.get(key="ACME-1")).status == "in_progress"  # reopened by the customer's mail
    owed = await Outbox.filter(id__gt=before).values_list("kind", "channel", "params")
    assert any(channel == "email" and "intake.reopened" in str(params) for _, channel, params in owed), owed


# Autoresponders that say what they are without RFC 3834's Auto-Submitted: they answer the desk's
# "resolved" mail with its [KEY] in the subject, so their vacation notice joins and reopens the incident.
AUTORESPONDERS = {
    "precedence_auto_reply": {"Precedence": "auto_reply"},
}


@pytest.mark.parametrize("marks", list(AUTORESPONDERS))
async def test_a_vacation_notice_does_not_reopen(db, imap_server, folder, marks):  # noqa: F811
    clock = FrozenClock()
    await resolved_acme_1(db, imap_server, folder, clock)
    vacation = mail("Автоответ: Re: [ACME-1] Сервер недоступен", "Я в отпуске до 15 марта.")
    for name, value in AUTORESPONDERS[marks].items():
        vacation[name] = value
    await imap_server.deliver(folder, vacation)
    async with mailbox_running(db, imap_server.url(folder), clock) as loop:
        await wait_for(lambda: loop.turns >= 1)
    assert await MailIn.filter(message_id=vacation["Message-ID"]).exists()
    assert (await Incident.get(key="ACME-1")).status == "resolved"


async def test_a_forged_flood_from_one_domain_is_not_acknowledged_without_end(db):
    clock = FrozenClock()
    await customers.add_customer("ACME", "24x7", "Acme", clock.now())
    await customers.bind_email(await customers.get_customer("ACME"), "acme.ru", "domain", None, clock.now())
    sla = Sla(load_settings(make_env("http://127.0.0.1:1", db)).policy)
    acknowledged = 0
    for n in range(30):
        sender = f"victim{n}@acme.ru"
        result = await take_mail(
            IncomingMail(sender=sender, sender_name="", message_id=f"<flood{n}@x>", subject=f"flood {n}", key=None,
                         thread_ids=(), text="x", attachments=[], sent_at=clock.now(), facts=MailFacts(sender)),
            DESK, sla, Windows(thread=timedelta(hours=4), reopen=timedelta(hours=72)), clock.now())
        acknowledged += result.acknowledged
    assert acknowledged <= 10, f"{acknowledged} acknowledgements in a minute to addresses of one domain"
