"""From the mailbox to the incident: real mail on a real IMAP server (pymap) through the IMAP loop, the
parser and the desk's intake."""

import uuid
from datetime import timedelta
from email.message import EmailMessage

from bot.settings import load_settings
from domain import customers
from domain.intake import Windows
from domain.models import Incident, IncidentMessage, MailIn, UnboundMessage
from domain.sla import Sla
from handlers.email.intake import make_deliver
from tests.clock import FrozenClock
from tests.mail_servers import wait_for
from tests.stub_api import TOKEN
from tests.test_email_imap import folder, imap_server, make_loop, running  # noqa: F401 (fixtures)

WINDOWS = Windows(thread=timedelta(hours=4), reopen=timedelta(hours=72))


def mail(subject: str, body: str, sender: str = "Иван Петров <ivan@acme.ru>", **headers) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@vendor.example", subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@acme.ru>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


async def test_mail_becomes_incidents_and_threads(db, imap_server, folder):  # noqa: F811
    clock = FrozenClock()
    await customers.add_customer("ACME", "24x7", "Acme", clock.now())
    await customers.bind_email(await customers.get_customer("ACME"), "acme.ru", "domain", None, clock.now())
    sla = Sla(load_settings({"BOT_TOKEN": TOKEN}).policy)
    owed = []

    async def on_created(incident, ref, now, acknowledge):
        owed.append((incident.key, acknowledge))

    first = mail("Сервер недоступен", "Никто не может войти с утра.\n\nС уважением,\nИван")
    await imap_server.deliver(
        folder, first,
        mail("Re: [ACME-1] Сервер недоступен", "Логи во вложении.\n\nOn Mon, Support wrote:\n> old"),
        mail("Re: Сервер недоступен", "И ещё вопрос", In_Reply_To=first["Message-ID"]),
        mail("Вопрос по лицензии", "Как продлить?"),
        mail("Автоответ: Сервер недоступен", "Я в отпуске", Auto_Submitted="auto-replied"),
        mail("Hello", "Who are you?", sender="someone@other.example"))
    deliver = make_deliver("support@vendor.example", sla, WINDOWS, clock, on_created=on_created)
    loop = make_loop(imap_server.url(folder), deliver, clock)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
    assert owed == [("ACME-1", True), ("ACME-2", True)]
    incidents = await Incident.all().order_by("id").values_list("key", "title")
    assert incidents == [("ACME-1", "Сервер недоступен"), ("ACME-2", "Вопрос по лицензии")]
    texts = await IncidentMessage.filter(incident__key="ACME-1").order_by("id").values_list("text", flat=True)
    assert len(texts) == 3 and texts[1].startswith("Логи во вложении.") and texts[2] == "И ещё вопрос"
    outcomes = await MailIn.all().order_by("uid").values_list("outcome", flat=True)
    assert outcomes == ["intake", "joined", "joined", "intake", "auto-reply", "unbound"]
    assert (await UnboundMessage.get()).text.startswith("Hello")
    assert all("\\Seen" in f for f in (await imap_server.flags(folder)).values())
