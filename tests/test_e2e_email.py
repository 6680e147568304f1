"""End to end with e-mail: the real `python -m bot`, a real IMAP server (pymap) and SMTP sink (aiosmtpd), the
Telegram stand-in. A customer's mail opens ACME-N and the on-call engineer is pinged in Telegram; the
engineer answers with /reply and the customer gets the answer in the thread; an auto-reply opens nothing;
the process killed in the middle of a batch of mail and started again has lost none and doubled none."""

import re
import signal
import uuid
from email.message import EmailMessage

import pytest

from bot.db import close_database, open_database
from domain.models import Incident, IncidentMessage, MailIn
from tests.conftest import make_env
from tests.mail_servers import SmtpSink, wait_for
from tests.people import ENGINEER, LEAD, engineer, lead
from tests.process import BotProcess
from tests.test_email_imap import folder, imap_server  # noqa: F401 (fixtures)

BATCH = 30


def mail(subject: str, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Иван Петров <ivan@acme.ru>", "support@vendor.example", subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@acme.ru>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


@pytest.fixture
def smtp():
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


def pings(stub, prefix: str, since: int = 0) -> list[str]:
    return [c.params["text"] for c in stub.calls[since:] if c.method == "sendMessage"
            and int(c.params["chat_id"]) == ENGINEER and c.params.get("text", "").startswith(prefix)]


async def test_mail_opens_an_incident_pings_and_survives_a_kill(stub, tmp_path, database_url, imap_server, folder,  # noqa: F811
                                                                smtp):
    env = make_env(stub.url, database_url, SCHEDULER_TICK="1s", MAIL_IMAP_URL=imap_server.url(folder),
                   MAIL_SMTP_URL=smtp.url, MAIL_FROM="Vendor Support <support@vendor.example>", MAIL_POLL="1s")
    proc = BotProcess(env, tmp_path)
    await proc.start()
    try:
        await stub.wait_for("getUpdates", timeout=60)  # a guard against a hang: a loaded machine starts slowly
        await stub.send(LEAD, lead, "/customer_add ACME premium Acme")
        await stub.send(LEAD, lead, "/customer_set ACME email acme.ru")
        await stub.wait_text(LEAD, "ACME: mail from acme.ru now goes to this customer")
        await stub.send(LEAD, lead, "/staff_invite engineer")
        invite = (await stub.wait_text(LEAD, "?start="))["text"]
        await stub.send(ENGINEER, engineer, "/start " + re.search(r"\?start=(\S+)", invite).group(1))
        await stub.wait_text(ENGINEER, "Your role")
        await stub.send(LEAD, lead, "/rotation day daily @eng_boris")
        await stub.send(LEAD, lead, "/rotation night daily @eng_boris")
        await stub.wait_text(LEAD, "Shift night")

        # A customer's mail opens ACME-1; the on-call engineer is pinged in Telegram with its words.
        mark = stub.mark()
        first = mail("Сервер недоступен", "С утра никто не может войти.\n\n-- \nИван")
        await imap_server.deliver(folder, first)
        ping = (await stub.wait_for("sendMessage", lambda p: p.get("text", "").startswith("🆕 ACME-1"), since=mark,
                                    timeout=30))[0]
        assert "С утра никто не может войти." in pings(stub, "🆕 ACME-1")[0]
        # The customer is acknowledged by mail, in the thread, with the key.
        await wait_for(lambda: smtp.mails, timeout=30)
        ack = smtp.mails[0]
        assert ack["To"] == "ivan@acme.ru" and ack["Subject"] == "[ACME-1] Re: Сервер недоступен"
        assert ack["In-Reply-To"] == first["Message-ID"] and ack["Auto-Submitted"] == "auto-replied"
        assert "ACME-1" in ack.get_content()

        # The engineer takes it in Telegram; the customer hears it by mail.
        take = ping.params["reply_markup"]["inline_keyboard"][0][0]
        message_id = next(m["message_id"] for m in stub.delivered if m["text"].startswith("🆕 ACME-1"))
        await stub.press({"message_id": message_id, "date": 0, "chat": {"id": ENGINEER, "type": "private",
                                                                          "first_name": "B"}, "text": "x"},
                         engineer, take["callback_data"])
        await wait_for(lambda: len(smtp.mails) >= 2, timeout=30)
        taken = smtp.mails[1]
        assert taken["Subject"] == "[ACME-1] Re: Сервер недоступен" and "ACME-1" in taken.get_content()
        assert taken["References"].split()[-1] == first["Message-ID"] or ack["Message-ID"] in taken["References"]

        # The customer answers the acknowledgement (no key in the subject): it joins ACME-1.
        await imap_server.deliver(folder, mail("Re: Сервер недоступен", "Вот журнал ошибок.",
                                               In_Reply_To=ack["Message-ID"], References=ack["Message-ID"]))

        # An auto-reply opens nothing: the next real mail is ACME-2.
        mark = stub.mark()
        notices = mail("Не приходят уведомления", "Уведомления не приходят.")
        await imap_server.deliver(folder, mail("Автоответ: Сервер недоступен", "Я в отпуске до понедельника",
                                               Auto_Submitted="auto-replied"), notices)
        await stub.wait_for("sendMessage", lambda p: p.get("text", "").startswith("🆕 ACME-2"), since=mark, timeout=30)
        assert "Уведомления не приходят." in pings(stub, "🆕 ACME-2")[0]
        assert not any("отпуске" in text for text in pings(stub, "🆕"))
        await wait_for(lambda: len(smtp.mails) >= 3, timeout=30)  # ACME-2's acknowledgement
        assert [m["Subject"] for m in smtp.mails[2:]] == ["[ACME-2] Re: Не приходят уведомления"]

        # The engineer answers ACME-2 from Telegram with /reply: the customer receives it in the thread.
        await stub.send(ENGINEER, engineer, "/reply ACME-2 Проверьте, пожалуйста, папку «Спам».")
        await stub.wait_text(ENGINEER, "ACME-2: your answer goes to the customer")
        await wait_for(lambda: len(smtp.mails) >= 4, timeout=30)
        answer = smtp.mails[3]
        assert answer["To"] == "ivan@acme.ru" and answer["Subject"] == "[ACME-2] Re: Не приходят уведомления"
        assert answer["In-Reply-To"] == notices["Message-ID"] and notices["Message-ID"] in answer["References"]
        assert "папку «Спам»" in answer.get_content() and answer["Auto-Submitted"] is None

        # A batch of mail; the process is killed as soon as the first of it is taken, then started again.
        await imap_server.deliver(folder, *(mail(f"Проблема {i}", f"Описание {i}") for i in range(BATCH)))
        await wait_for(lambda: _seen(imap_server, folder, at_least=5), timeout=60)
        taken_before_kill = sum("\\Seen" in f for f in (await imap_server.flags(folder)).values()) - 4
        await proc.stop(signal.SIGKILL)
        await proc.start()
        await wait_for(lambda: _seen(imap_server, folder, at_least=BATCH + 4), timeout=90)
        assert await proc.stop() == 0
    finally:
        if proc.proc and proc.proc.returncode is None:
            await proc.stop(signal.SIGKILL)

    await open_database(database_url, apply_migrations=False)
    try:
        outcomes = await MailIn.all().values_list("outcome", flat=True)
        assert len(outcomes) == BATCH + 4 and outcomes.count("auto-reply") == 1 and outcomes.count("joined") == 1
        keys = await Incident.all().order_by("number").values_list("key", flat=True)
        assert keys == [f"ACME-{n}" for n in range(1, BATCH + 3)]
        refs = await IncidentMessage.filter(source="customer").values_list("ref", flat=True)
        assert len(refs) == len(set(refs)) == BATCH + 3
        assert await IncidentMessage.filter(incident__key="ACME-1", source="customer").count() == 2
        answered = await Incident.get(key="ACME-2")  # the /reply was the response
        assert answered.responded_at is not None and answered.responded_by == ENGINEER
        assert await IncidentMessage.filter(incident=answered, source="staff", text__contains="«Спам»").exists()
    finally:
        await close_database()
    print(f"killed after {taken_before_kill} of {BATCH} mails of the batch were taken")


async def _seen(imap_server, folder, at_least: int) -> bool:  # noqa: F811
    flags = await imap_server.flags(folder)
    return sum("\\Seen" in f for f in flags.values()) >= at_least
