"""TLS as configured in production: imaps:// (TLS from the first byte), smtps:// and smtp+starttls:// with a
login, against servers with a certificate from a test authority; an untrusted certificate is refused."""

import ssl

import pytest
import trustme

from bot.mail_settings import load_mail
from handlers.email.smtp import OutgoingMail, SendError, SmtpSender, compose
from tests.clock import FrozenClock
from tests.mail_servers import PASSWORD, Relay, SmtpSink, wait_for
from tests.test_email_imap import Intake, folder, imap_server, mail, make_loop, running  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_imaps(db, imap_server, folder, tls):  # noqa: F811
    server_context, client_context = tls
    relay = Relay(imap_server.port)
    await relay.start(ssl_context=server_context)
    url = imap_server.url(folder, port=relay.port).replace("imap://", "imaps://")
    try:
        await imap_server.deliver(folder, mail(1))
        intake = Intake()
        loop = make_loop(url, intake, FrozenClock(), ssl_context=client_context)
        async with running(loop):
            await wait_for(lambda: intake.subjects == ["problem 1"])
            assert loop.health.connected
        # The system's authorities do not know the test one: the certificate is refused, nothing is read.
        untrusting = make_loop(url, Intake(), FrozenClock())
        async with running(untrusting):
            await wait_for(lambda: untrusting.health.last_error)
        assert "CERTIFICATE_VERIFY_FAILED" in untrusting.health.last_error and not untrusting.health.connected
    finally:
        await relay.stop()


@pytest.mark.parametrize("scheme", ["smtps", "smtp+starttls"])
async def test_smtp_over_tls_with_a_login(tls, scheme):
    server_context, client_context = tls
    sink = SmtpSink(tls="smtps" if scheme == "smtps" else "starttls", context=server_context,
                    login=("desk", PASSWORD))
    sink.start()
    try:
        settings = load_mail({"MAIL_IMAP_URL": "imap://d:p@127.0.0.1:1143",
                              "MAIL_SMTP_URL": f"{scheme}://desk:{PASSWORD}@127.0.0.1:{sink.port}",
                              "MAIL_FROM": "Support <support@vendor.example>"}.get)
        sender = SmtpSender(settings, tls_context=client_context)
        msg = compose(OutgoingMail(to="ivan@acme.ru", key="ACME-1", subject="x", text="y"), settings,
                      FrozenClock().now())
        await sender.send(msg)
        await wait_for(lambda: sink.mails)
        assert sink.logins == ["desk"] and sink.mails[0]["Subject"] == "[ACME-1] x"
        with pytest.raises(SendError) as refused:  # a wrong password: retried (the setting may be fixed)
            await SmtpSender(load_mail({**{"MAIL_IMAP_URL": "imap://d:p@127.0.0.1:1143",
                                           "MAIL_FROM": "Support <support@vendor.example>"},
                                        "MAIL_SMTP_URL": f"{scheme}://desk:wrong@127.0.0.1:{sink.port}"}.get),
                             tls_context=client_context).send(msg)
        assert not refused.value.permanent and len(sink.mails) == 1
    finally:
        sink.stop()
