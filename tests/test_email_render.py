"""The desk's mail texts: the acknowledgement (key, priority, deadline in the customer's zone and
language, how to add details), a staff answer in the thread, a report with its chart."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.settings import load_settings
from domain.models import Incident
from domain.sla import Sla
from handlers.email.render import ack_mail, reply_mail, report_mail
from handlers.email.smtp import compose
from locales import t
from tests.stub_api import TOKEN

SETTINGS = load_settings({"BOT_TOKEN": TOKEN, "MAIL_IMAP_URL": "imap://d:p@127.0.0.1:1143",
                          "MAIL_SMTP_URL": "smtp://127.0.0.1:2525", "MAIL_FROM": "Vendor Support <support@vendor.example>"})
SLA = Sla(SETTINGS.policy)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # Monday 15:00 in Moscow
MOSCOW, VLADIVOSTOK = ZoneInfo("Europe/Moscow"), ZoneInfo("Asia/Vladivostok")


def incident(plan="24x7", priority="P2", opened=NOW) -> Incident:
    return Incident(key="ACME-7", plan=plan, priority=priority, opened_at=opened, title="Сервер недоступен")


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_acknowledgement(lang):
    mail = ack_mail(incident(), lang, SLA, MOSCOW, NOW, to="ivan@acme.ru", subject="Сервер недоступен",
                    answered="<c1@acme.ru>", references=("<c0@acme.ru>",))
    assert mail.to == "ivan@acme.ru" and mail.key == "ACME-7" and mail.subject == "Re: Сервер недоступен"
    assert (mail.in_reply_to, mail.references) == ("<c1@acme.ru>", ("<c0@acme.ru>",))
    assert mail.auto_submitted == "auto-replied" and mail.kind == "ack"
    assert mail.text.startswith(t(lang, "intake.ack", key="ACME-7", priority="P2", meaning=t(lang, "priority.P2")))
    assert "16:00" in mail.text  # 1 h from 15:00 Moscow time
    assert mail.text.endswith(t(lang, "email.ack_details", key="ACME-7"))
    msg = compose(mail, SETTINGS.mail, NOW)
    assert msg["Subject"] == "[ACME-7] Re: Сервер недоступен" and msg["Auto-Submitted"] == "auto-replied"
    assert msg["References"] == "<c0@acme.ru> <c1@acme.ru>"


def test_acknowledgement_in_the_customers_zone():
    mail = ack_mail(incident(), "ru", SLA, VLADIVOSTOK, NOW, to="a@acme.ru", subject="x", answered=None)
    assert "23:00" in mail.text  # 16:00 Moscow is 23:00 in Vladivostok


def test_outside_business_hours_the_clock_start_is_said():
    evening = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 20:00 Moscow, after 8x5 hours
    mail = ack_mail(incident(plan="8x5", opened=evening), "en", SLA, MOSCOW, evening, to="a@acme.ru", subject="x",
                    answered=None)
    assert "Outside support hours" in mail.text and "10:00" in mail.text


def test_warranty_asks_for_version_and_logs():
    mail = ack_mail(incident(plan="warranty"), "en", SLA, MOSCOW, NOW, to="a@acme.ru", subject="x", answered=None)
    assert t("en", "intake.warranty") in mail.text


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_oversize_mail_is_acknowledged_with_a_word_about_it(lang):
    mail = ack_mail(incident(), lang, SLA, MOSCOW, NOW, to="a@acme.ru", subject="", answered=None,
                    oversize_limit=25 * 1024 * 1024)
    assert t(lang, "email.oversize", limit=t(lang, "email.megabytes", count=25)) in mail.text
    assert mail.subject == "Re: Сервер недоступен"  # no subject: the incident's title


def test_staff_answer_goes_in_the_thread_signed():
    mail = reply_mail(incident(), "  Перезапустите службу.  ", "Борис", SETTINGS.mail.sender, "ivan@acme.ru",
                      answered="<c2@acme.ru>", references=("<c1@acme.ru>", "<ack@vendor.example>"))
    assert mail.text == "Перезапустите службу.\n\n-- \nБорис\nVendor Support"
    assert mail.auto_submitted == "" and mail.subject == "Re: Сервер недоступен" and mail.kind == "reply"
    msg = compose(mail, SETTINGS.mail, NOW)
    assert msg["Subject"] == "[ACME-7] Re: Сервер недоступен" and msg["In-Reply-To"] == "<c2@acme.ru>"
    assert msg["Auto-Submitted"] is None


def test_report_has_its_chart_attached():
    mail = report_mail("ACME", "Отчёт за март", "текст", b"\x89PNG", "boss@acme.ru")
    msg = compose(mail, SETTINGS.mail, NOW)
    assert msg["Subject"] == "[ACME] Отчёт за март" and msg["Auto-Submitted"] == "auto-generated"
    parts = [p.get_filename() for p in msg.iter_attachments()]
    assert parts == ["report.png"]
