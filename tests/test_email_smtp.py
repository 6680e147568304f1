"""The SMTP sender against a real SMTP server (aiosmtpd): the key in every subject, threading headers,
attachments, loop-safe marks on automatic mail, and which failures are worth a retry."""

from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller

from bot.mail_settings import load_mail
from domain.mail_rules import Verdict, classify
from handlers.email.parser import parse_mail
from handlers.email.smtp import Attachment, OutgoingMail, SendError, SmtpSender, compose, subject_with_key
from tests.mail_servers import SmtpSink, free_port, wait_for

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def settings(smtp_url: str):
    return load_mail({"MAIL_IMAP_URL": "imap://desk:pw@127.0.0.1:1143", "MAIL_SMTP_URL": smtp_url,
                      "MAIL_FROM": "Vendor Support <support@vendor.example>"}.get)


@pytest.fixture
def sink():
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(("subject", "expected"), [
    ("Сервер недоступен", "[ACME-12] Сервер недоступен"),
    ("Re: [ACME-12] Сервер недоступен", "Re: [ACME-12] Сервер недоступен"),
    ("Re: [acme-12] down", "Re: [acme-12] down"),
    ("[ACME-3] old thread", "[ACME-12] [ACME-3] old thread"),
    ("", "[ACME-12]"),
])
def test_the_key_is_in_every_subject(subject, expected):
    assert subject_with_key("ACME-12", subject) == expected


def test_compose_threads_the_answer():
    mail = OutgoingMail(to="ivan@acme.ru", key="ACME-12", subject="Re: Сервер недоступен", text="Смотрим.",
                        in_reply_to="<c2@acme.ru>", references=("<c1@acme.ru>", "<d1@vendor.example>", "<c2@acme.ru>"))
    msg = compose(mail, settings("smtp://127.0.0.1:25"), NOW)
    assert msg["Subject"] == "[ACME-12] Re: Сервер недоступен"
    assert msg["From"] == "Vendor Support <support@vendor.example>" and msg["To"] == "ivan@acme.ru"
    assert msg["In-Reply-To"] == "<c2@acme.ru>"
    assert msg["References"] == "<c1@acme.ru> <d1@vendor.example> <c2@acme.ru>"
    assert msg["Message-ID"].endswith("@vendor.example>") and "acme-12" in msg["Message-ID"]
    assert msg["Auto-Submitted"] is None  # a person's answer
    assert msg["Date"] == "Mon, 02 Mar 2026 12:00:00 +0000"
    again = compose(mail, settings("smtp://127.0.0.1:25"), NOW)
    assert again["Message-ID"] != msg["Message-ID"]


def test_long_threads_keep_the_root_and_the_newest_references():
    refs = tuple(f"<r{i}@acme.ru>" for i in range(30))
    msg = compose(OutgoingMail(to="a@acme.ru", key="ACME-1", subject="x", text="y", in_reply_to="<r29@acme.ru>",
                               references=refs), settings("smtp://127.0.0.1:25"), NOW)
    kept = msg["References"].split()
    assert len(kept) == 20 and kept[0] == "<r0@acme.ru>" and kept[-1] == "<r29@acme.ru>" and kept[1] == "<r11@acme.ru>"


async def test_sent_mail_arrives_with_its_headers_and_attachment(sink):
    sender = SmtpSender(settings(sink.url))
    mail = OutgoingMail(to="ivan@acme.ru", key="ACME-12", subject="Отчёт за март", text="Отчёт во вложении.",
                        attachments=(Attachment("chart.png", "image/png", b"\x89PNG\r\n\x1a\nchart"),),
                        auto_submitted="auto-generated", kind="report")
    msg = compose(mail, sender.settings, NOW)
    await sender.send(msg, kind="report")
    await wait_for(lambda: sink.handler.received)
    mail_from, rcpt_tos, got = sink.handler.received[0]
    assert mail_from == "support@vendor.example" and rcpt_tos == ["ivan@acme.ru"]
    assert got["Subject"] == "[ACME-12] Отчёт за март" and got["Message-ID"] == msg["Message-ID"]
    assert got["Auto-Submitted"] == "auto-generated" and got["X-Auto-Response-Suppress"] == "All"
    parsed = parse_mail(bytes(got))
    assert parsed.text == "Отчёт во вложении." and parsed.key == "ACME-12"
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [("chart.png", "image/png", 13)]
    # our own mail, coming back into the mailbox (a customer's forwarding rule), opens nothing and gets nothing
    assert classify(parsed.facts, sender.settings.address) == Verdict(False, False, "own")


class _Refusing:
    def __init__(self, code: str) -> None:
        self.code = code

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # aiosmtpd's hook name
        return self.code


@pytest.mark.parametrize(("answer", "permanent"), [("550 5.1.1 no such user", True), ("451 4.3.0 try later", False)])
async def test_refusals_are_told_apart(answer, permanent):
    controller = Controller(_Refusing(answer), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        sender = SmtpSender(settings(f"smtp://127.0.0.1:{controller.port}"))
        msg = compose(OutgoingMail(to="nobody@acme.ru", key="ACME-1", subject="x", text="y"), sender.settings, NOW)
        with pytest.raises(SendError) as exc:
            await sender.send(msg)
        assert exc.value.permanent is permanent
    finally:
        controller.stop()


async def test_no_server_is_worth_a_retry():
    sender = SmtpSender(settings(f"smtp://127.0.0.1:{free_port()}"))
    msg = compose(OutgoingMail(to="ivan@acme.ru", key="ACME-1", subject="x", text="y"), sender.settings, NOW)
    with pytest.raises(SendError) as exc:
        await sender.send(msg)
    assert not exc.value.permanent
