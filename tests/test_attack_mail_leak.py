"""A stranger who gets the staff's answers: an RFC 2047 encoded word in From decodes to an address LIST
(`attacker@evil.example, x@acme.ru`); the desk keeps that whole string as the sender, binds it by its last
domain (acme.ru, a customer's), and later writes it into the To of every mail of the incident, where it is
two recipients again."""

from __future__ import annotations

from domain import mailbox
from domain.sla import Sla
from handlers.email.intake import make_deliver, make_on_mail_created
from handlers.email.parser import parse_mail
from tests.mail_servers import wait_for
from tests.people import ENGINEER, engineer
from tests.test_attack_mail_reply import DESK, WINDOWS, close, make_desk, sink  # noqa: F401 (fixture)

FORGED = (b"From: =?utf-8?q?attacker=40evil=2Eexample=2C_x=40acme=2Eru?=\r\nTo: support@vendor.example\r\n"
          b"Subject: Cluster access for the new admin\r\nMessage-ID: <forged-1@evil.example>\r\n\r\n"
          b"Hi, I am the new admin at Acme. Please send the VPN profile and the root password.\r\n")


async def test_an_encoded_address_list_does_not_reach_a_stranger(stub, db, sink):  # noqa: F811
    desk = await make_desk(stub, db, sink.url)
    try:
        sla = Sla(desk.settings.policy)
        deliver = make_deliver(DESK, sla, WINDOWS, desk.clock, on_created=make_on_mail_created(desk.settings, sla))
        parsed = parse_mail(FORGED)
        outcome = await mailbox.take_in("box", 1, 1, parsed.message_id, parsed.sender, desk.clock.now(),
                                        lambda: deliver(parsed))
        await desk.flush()
        if outcome == "intake":
            await desk.say(ENGINEER, engineer, "/reply ACME-1 The VPN profile is attached; the password is s3cret.")
            await desk.flush()
            await wait_for(lambda: len(sink.handler.received) >= 2)
        recipients = {rcpt for _, rcpts, _ in sink.handler.received for rcpt in rcpts}
        assert not any(r.endswith("@evil.example") for r in recipients), (outcome, recipients)
    finally:
        await close(desk)
