"""Periodic reports by mail: who gets one (each full address bound to the customer, never a bare domain,
nothing while e-mail is off) and what it holds (the chat's figures in the customer's language, the subject
with the customer's name and the period, the chart attached as a PNG), once per period."""

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.settings import load_settings
from domain import customers, people, reports
from domain.models import Customer, Outbox
from handlers.email import channel as email_channel
from handlers.email.channel import SMTP_CONNECTIONS
from handlers.email.smtp import compose
from locales import report_text
from scheduler.jobs import Heartbeat, Tick
from tests.channels import tg_conversation
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.mail_servers import SmtpSink, wait_for
from tests.people import GROUP, LEAD
from tests.test_reports import incident

EKB = ZoneInfo("Asia/Yekaterinburg")
MONDAY_10 = datetime(2026, 3, 16, 10, 0, tzinfo=EKB)  # the weekly report's moment, in the customer's zone
DESK = "support@vendor.example"


@pytest.fixture
def smtp():
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def desk(stub, db, smtp):
    """The real Dispatcher and courier with the e-mail channel configured (an SMTP sink takes the mail)."""
    clock = FrozenClock(datetime(2026, 3, 10, 12, 0, tzinfo=EKB))
    settings = load_settings(make_env(stub.url, db, MAIL_IMAP_URL="imap://desk:unused@127.0.0.1:1/INBOX",
                                      MAIL_SMTP_URL=smtp.url, MAIL_FROM=f"Vendor Support <{DESK}>"))
    await people.ensure_leads(settings.lead_ids, clock.now())
    d = Desk(stub, settings, clock)
    d.smtp = smtp
    yield d
    if d.bot.session._session is not None:
        await d.bot.session._session.close()


async def weekly_customer(desk, group: bool = True, lang: str | None = None) -> Customer:
    now, sla = desk.clock.now(), desk.dp["desk"].sla
    acme = await customers.add_customer("ACME", "24x7", "Acme Logistics", now)
    if group:
        await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
        desk.stub.chat(GROUP, "Acme")
    await customers.set_field("ACME", "tz", EKB, sla, now)
    await customers.set_field("ACME", "report", "weekly", sla, now)
    if lang:
        await customers.set_field("ACME", "lang", lang, sla, now)
    # Two incidents in the week reported (9–15 March): one answered in time, one breached.
    await incident(acme, 1, "P2", datetime(2026, 3, 10, 12, 0, tzinfo=EKB), sla, datetime(2026, 3, 10, 12, 20, tzinfo=EKB))
    await incident(acme, 2, "P1", datetime(2026, 3, 11, 12, 0, tzinfo=EKB), sla)
    return await Customer.get(code="ACME")


async def run_report_job(desk) -> None:
    """The tick at the report's moment, again a minute later, and once more after a restart."""
    desk.clock.set(MONDAY_10)
    await Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat()).run()
    desk.clock.advance(timedelta(minutes=1))
    await Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat()).run()
    await desk.flush()
    await Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat()).run()
    await desk.flush()


def subject(mail) -> str:
    """The subject as read. Python's folder puts the line break before an encoded word after a space, so
    a long subject unfolds with two spaces there ("09.03.2026  – 15.03.2026"): spaces are compared once."""
    return " ".join(mail["Subject"].split())


def body(mail) -> str:
    """The text part, with the line ends of the page (SMTP carries CRLF)."""
    return "\n".join(mail.get_body(("plain",)).get_content().splitlines())


def pngs(mail) -> list[tuple[str, bytes]]:
    return [(part.get_filename(), part.get_content()) for part in mail.iter_attachments()
            if part.get_content_type() == "image/png"]


async def test_the_weekly_report_mails_each_bound_address_once_with_the_chart(desk):
    acme = await weekly_customer(desk)
    now = desk.clock.now()
    for address in ("ivan@acme.ru", "Olga@Acme.ru"):
        await customers.bind_email(acme, address.lower(), "address", LEAD, now)
    await customers.bind_email(acme, "acme.ru", "domain", LEAD, now)  # a domain names nobody: no mail for it
    beta = await customers.add_customer("BETA", "8x5", "Beta", now)  # another customer, no report: no mail
    await customers.bind_email(beta, "petr@beta.ru", "address", LEAD, now)

    await run_report_job(desk)

    mails = desk.smtp.mails
    assert sorted(m["To"] for m in mails) == ["ivan@acme.ru", "olga@acme.ru"]  # once each, across the restart
    group_text = next(m["text"] for m in desk.stub.delivered
                      if int(m["chat_id"]) == GROUP and m.get("text", "").startswith("Support report"))
    for mail in mails:
        assert subject(mail) == "[ACME] Support report: Acme Logistics (ACME), 09.03.2026 – 15.03.2026"
        assert mail["From"] == f"Vendor Support <{DESK}>" and mail["Message-ID"].endswith("@vendor.example>")
        assert mail["Auto-Submitted"] == "auto-generated"
        # The same figures as the customer's chat reads, and not the leads' advice.
        assert body(mail).strip() == group_text.strip()
        assert "Incidents opened: 2 (P1 1, P2 1, P3 0, P4 0)" in body(mail)
        assert "ACME-2 P1 unanswered" in body(mail) and "Recommendations" not in body(mail)
        (name, png), = pngs(mail)
        assert name == "report.png" and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert mails[0]["Message-ID"] != mails[1]["Message-ID"]
    # The chat and the leads still get theirs.
    chats = sorted(int(m["chat_id"]) for m in desk.stub.delivered if m.get("text", "").startswith("Support report"))
    assert chats == sorted([GROUP, LEAD])


async def test_the_mail_is_in_the_customers_language(desk):
    acme = await weekly_customer(desk, lang="ru")
    await customers.bind_email(acme, "ivan@acme.ru", "address", LEAD, desk.clock.now())
    await run_report_job(desk)
    (mail,) = desk.smtp.mails
    assert subject(mail) == "[ACME] Отчёт поддержки: Acme Logistics (ACME), 09.03.2026 – 15.03.2026"
    built = await reports.build([acme], reports.previous("week", MONDAY_10.date(), EKB), desk.clock.now(),
                                desk.dp["desk"].sla, EKB)
    assert body(mail).strip() == report_text.render(built, "ru", "Acme Logistics (ACME)", for_leads=False)
    assert "Открыто обращений: 2" in body(mail)
    assert len(pngs(mail)) == 1


async def test_a_customer_with_no_group_gets_its_report_only_by_mail(desk):
    acme = await weekly_customer(desk, group=False)
    await customers.bind_email(acme, "ivan@acme.ru", "address", LEAD, desk.clock.now())
    await run_report_job(desk)
    assert [m["To"] for m in desk.smtp.mails] == ["ivan@acme.ru"] and pngs(desk.smtp.mails[0])
    # No chat of the customer's; the leads' copy (text and chart) is all Telegram carries.
    assert {int(c.params["chat_id"]) for c in desk.stub.calls if c.method in ("sendMessage", "sendPhoto")} == {LEAD}


async def test_a_customer_bound_by_domain_only_gets_no_mail(desk):
    acme = await weekly_customer(desk)
    await customers.bind_email(acme, "acme.ru", "domain", LEAD, desk.clock.now())
    await run_report_job(desk)
    assert desk.smtp.mails == []
    assert not await Outbox.filter(channel="email").exists()


async def test_with_mail_off_nothing_is_owed_by_mail(stub, db):
    clock = FrozenClock(datetime(2026, 3, 10, 12, 0, tzinfo=EKB))
    settings = load_settings(make_env(stub.url, db))
    assert settings.mail is None
    await people.ensure_leads(settings.lead_ids, clock.now())
    desk = Desk(stub, settings, clock)
    try:
        acme = await weekly_customer(desk)
        await customers.bind_email(acme, "ivan@acme.ru", "address", LEAD, clock.now())
        await run_report_job(desk)
        assert not await Outbox.filter(channel="email").exists()
        group = await tg_conversation(GROUP)
        assert await Outbox.filter(kind="report", conversation_id=group.id, status="sent").count() == 2  # text, chart
    finally:
        if desk.bot.session._session is not None:
            await desk.bot.session._session.close()


async def test_an_address_unbound_before_the_mail_left_gets_nothing(desk):
    """Owed at 10:00, sent later: an address unbound (or bound to another customer) meanwhile gets no figures."""
    acme = await weekly_customer(desk)
    now = desk.clock.now()
    await customers.bind_email(acme, "ivan@acme.ru", "address", LEAD, now)
    await customers.bind_email(acme, "olga@acme.ru", "address", LEAD, now)
    desk.clock.set(MONDAY_10)
    await Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat()).run()
    await customers.unbind("email", "olga@acme.ru")
    await desk.flush()
    assert [m["To"] for m in desk.smtp.mails] == ["ivan@acme.ru"]
    assert await Outbox.filter(channel="email", status="failed").count() == 1


class HeldSender:
    """Stands in for the SMTP server: holds every mail until the test lets them go, counting how many it
    holds at once."""

    def __init__(self) -> None:
        self.held = self.most = self.done = 0
        self.go = asyncio.Event()

    async def send(self, msg, kind: str = "mail") -> None:
        self.held += 1
        self.most = max(self.most, self.held)
        await self.go.wait()
        self.held -= 1
        self.done += 1


async def test_a_burst_of_report_mails_uses_a_few_smtp_connections_at_once(desk, monkeypatch):
    acme = await weekly_customer(desk, group=False)
    for n in range(SMTP_CONNECTIONS * 2):
        await customers.bind_email(acme, f"user{n}@acme.ru", "address", LEAD, desk.clock.now())
    desk.clock.set(MONDAY_10)
    await Tick(desk.settings, desk.clock, desk.dp["desk"].sla, Heartbeat()).run()
    sender, composed = HeldSender(), []
    desk.outbox.channels.get("email").sender = sender

    def counted(mail, settings, now):
        composed.append(mail.to)
        return compose(mail, settings, now)

    # `compose` runs right before the hand-over: every mail composed and only a few held means the rest wait.
    monkeypatch.setattr(email_channel, "compose", counted)
    flushing = asyncio.create_task(desk.flush())
    await wait_for(lambda: len(composed) == SMTP_CONNECTIONS * 2)
    assert sender.held == sender.most == SMTP_CONNECTIONS
    sender.go.set()
    await flushing
    assert sender.done == SMTP_CONNECTIONS * 2 and sender.most == SMTP_CONNECTIONS
