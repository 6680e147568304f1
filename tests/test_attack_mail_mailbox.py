"""The mailbox over its life: the desk pointed at a mailbox that already holds mail people read, and a
mailbox rebuilt on the server (a new UIDVALIDITY) that holds years of mail already taken."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

import handlers.email.imap as imap_module
from bot.settings import load_settings
from domain import customers
from domain.models import Incident
from domain.sla import Sla
from handlers.email.intake import make_deliver
from tests.clock import FrozenClock
from tests.mail_servers import wait_for
from tests.stub_api import TOKEN
from tests.test_attack_mail_identity import WINDOWS
from tests.test_email_imap import folder, imap_server, make_loop, running  # noqa: F401 (fixtures)


def mail(subject: str, attachment: bytes = b"") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Ivan <ivan@acme.ru>", "support@vendor.example", subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@acme.ru>"
    msg.set_content("text")
    if attachment:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="dump.bin")
    return msg


async def desk_deliver(clock: FrozenClock, acknowledged: list):
    await customers.add_customer("ACME", "24x7", "Acme", clock.now())
    await customers.bind_email(await customers.get_customer("ACME"), "acme.ru", "domain", None, clock.now())

    async def on_created(incident, ref, now, acknowledge):
        acknowledged.append((incident.key, acknowledge))

    return make_deliver("support@vendor.example", Sla(load_settings({"BOT_TOKEN": TOKEN}).policy), WINDOWS, clock,
                        on_created=on_created)


async def test_the_first_start_does_not_replay_the_mailboxs_history(db, imap_server, folder):  # noqa: F811
    await imap_server.deliver(folder, *(mail(f"old question {n}") for n in range(5)))
    client = await imap_server.client(folder)
    assert (await client.uid("store", "1:*", "+FLAGS", r"(\Seen)")).result == "OK"  # handled by people
    await client.logout()
    clock, acknowledged = FrozenClock(), []
    loop = make_loop(imap_server.url(folder), await desk_deliver(clock, acknowledged), clock)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
        await imap_server.deliver(folder, mail("new outage"))

        async def taken() -> bool:
            return await Incident.filter(title="new outage").exists()
        await wait_for(taken)
    assert await Incident.all().count() == 1, acknowledged


async def test_a_rebuilt_mailbox_does_not_download_its_history_again(db, imap_server, folder, monkeypatch):  # noqa: F811
    old = [mail(f"old {n}", attachment=b"x" * 1_000_000) for n in range(20)]
    await imap_server.deliver(folder, *old)
    clock, acknowledged = FrozenClock(), []
    deliver = await desk_deliver(clock, acknowledged)
    loop = make_loop(imap_server.url(folder), deliver, clock)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
    assert await Incident.all().count() == 20
    await imap_server.delete(folder)
    await imap_server.create(folder)
    await imap_server.deliver(folder, *old, mail("new outage"))
    fetched: list[int] = []
    parse = imap_module.parse_mail

    def counting(raw, *args, **kwargs):
        fetched.append(len(raw))
        return parse(raw, *args, **kwargs)

    monkeypatch.setattr(imap_module, "parse_mail", counting)
    loop = make_loop(imap_server.url(folder), deliver, clock)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
    assert await Incident.filter(title="new outage").exists()
    again = sum(fetched) - fetched[-1]
    assert again < 1_000_000, f"{again} bytes of mail already taken were downloaded again"
