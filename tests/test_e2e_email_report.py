"""End to end, the periodic report by mail: the whole program (`bot.app.run`, the composition root that
`python -m bot` runs) in this process, so that its injected clock can be moved to the report's moment,
with a real IMAP server (pymap), a real SMTP sink (aiosmtpd) and the Telegram stand-in. A lead binds a
customer's address and sets a weekly report; the customer's mail opens an incident in the week; at Monday
10:00 the scheduler's tick owes the report and the courier mails it: the SMTP sink receives the text and
the chart attached as a PNG, once."""

import asyncio
import os
import signal
import uuid
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from bot.app import run
from bot.db import close_database, open_database
from bot.settings import load_settings
from domain.models import JobClaim, Outbox
from tests.clock import ShiftedClock
from tests.conftest import make_env
from tests.mail_servers import SmtpSink, wait_for
from tests.people import LEAD, lead
from tests.test_email_imap import folder, imap_server  # noqa: F401 (fixtures)

MSK = ZoneInfo("Europe/Moscow")  # TIMEZONE's default: the customer's zone when it has none


def customer_mail(subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Иван Петров <ivan@acme.ru>", "support@vendor.example", subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@acme.ru>"
    msg.set_content(body)
    return msg


def reports(smtp) -> list[EmailMessage]:
    return [m for m in smtp.mails if "Support report" in m["Subject"]]


async def test_the_weekly_report_reaches_the_customers_address_with_its_chart(stub, database_url, imap_server, folder):  # noqa: F811
    smtp = SmtpSink()
    smtp.start()
    clock = ShiftedClock()  # the real time at the start: the scheduler counts its intervals from it
    today = clock.now().astimezone(MSK).date()
    week = today - timedelta(days=today.weekday())  # the week of the incident, to be reported the Monday after
    due = datetime.combine(week + timedelta(days=7), time(10, 0), MSK)
    settings = load_settings(make_env(stub.url, database_url, SCHEDULER_TICK="1s", MAIL_IMAP_URL=imap_server.url(folder),
                                      MAIL_SMTP_URL=smtp.url, MAIL_FROM="Vendor Support <support@vendor.example>",
                                      MAIL_POLL="1s"))
    loop = asyncio.get_running_loop()
    program = asyncio.create_task(run(settings, clock))
    try:
        await stub.wait_for("getUpdates", timeout=60)  # a guard against a hang on a loaded machine
        # Wednesday noon of this week, before any customer exists: on a Monday morning the real time would
        # owe last week's report at once.
        clock.set(datetime.combine(week + timedelta(days=2), time(12, 0), MSK))
        await stub.send(LEAD, lead, "/customer_add ACME premium Acme")
        await stub.send(LEAD, lead, "/customer_set ACME email ivan@acme.ru")
        await stub.wait_text(LEAD, "ACME: mail from ivan@acme.ru now goes to this customer", timeout=30)
        await stub.send(LEAD, lead, "/customer_set ACME report weekly")
        await stub.wait_text(LEAD, "weekly", timeout=30)

        # The customer's mail opens ACME-1 in the week; the acknowledgement shows the mail works both ways.
        await imap_server.deliver(folder, customer_mail("Сервер недоступен", "С утра никто не может войти."))
        await wait_for(lambda: any("[ACME-1]" in m["Subject"] for m in smtp.mails), timeout=60)
        assert reports(smtp) == []  # nothing before its moment

        # Monday 10:00: the next tick owes the report, the courier mails it.
        clock.set(due)
        await wait_for(lambda: reports(smtp), timeout=60)
        (report,) = reports(smtp)
        assert report["To"] == "ivan@acme.ru" and report["Auto-Submitted"] == "auto-generated"
        period = f"{week:%d.%m.%Y} – {week + timedelta(days=6):%d.%m.%Y}"
        assert " ".join(report["Subject"].split()) == f"[ACME] Support report: Acme (ACME), {period}"
        text = report.get_body(("plain",)).get_content()
        assert "Incidents opened: 1 (P1 " in text and "Still open (1): ACME-1" in text
        (chart,) = [part for part in report.iter_attachments() if part.get_content_type() == "image/png"]
        assert chart.get_filename() == "report.png" and chart.get_content().startswith(b"\x89PNG\r\n\x1a\n")
        await stub.wait_text(LEAD, "Support report: Acme (ACME)", timeout=30)  # the lead's Telegram copy too
    finally:
        if not program.done():
            os.kill(os.getpid(), signal.SIGTERM)  # run() handles it: a clean stop
        try:
            await asyncio.wait_for(program, 30)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            smtp.stop()

    # The period is marked done, so later ticks owe nothing again; the one mail owed was sent.
    await open_database(database_url, apply_migrations=False)
    try:
        assert await Outbox.filter(kind="report", channel="email").values_list("status", flat=True) == ["sent"]
        assert await JobClaim.exists(key=f"report:ACME:{week}:{week + timedelta(days=6)}")
    finally:
        await close_database()
    assert len(reports(smtp)) == 1
