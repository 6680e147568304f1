"""Mail loop rules: which mail is intake, which may be acknowledged, and the hourly limit per sender."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.mail_rules import ACKS_PER_HOUR, MailFacts, Verdict, ack_allowed, classify

DESK = "support@vendor.example"
PERSON = "ivan@acme.ru"


@pytest.mark.parametrize(("facts", "verdict"), [
    (MailFacts(PERSON), Verdict(True, True)),
    (MailFacts(PERSON, auto_submitted="no"), Verdict(True, True)),
    (MailFacts(PERSON, auto_submitted="No"), Verdict(True, True)),
    (MailFacts(PERSON, precedence="first-class"), Verdict(True, True)),
    # replies written by machines: nothing opened, nothing sent
    (MailFacts(PERSON, auto_submitted="auto-replied"), Verdict(False, False, "auto-reply")),
    (MailFacts(PERSON, auto_submitted="Auto-Replied; owner-email=ivan@acme.ru"), Verdict(False, False, "auto-reply")),
    (MailFacts(PERSON, autoreply_header=True), Verdict(False, False, "auto-reply")),
    (MailFacts("MAILER-DAEMON@mx.acme.ru"), Verdict(False, False, "bounce")),
    (MailFacts("postmaster@acme.ru"), Verdict(False, False, "bounce")),
    (MailFacts(PERSON, null_return_path=True), Verdict(False, False, "bounce")),
    (MailFacts(PERSON, delivery_report=True), Verdict(False, False, "bounce")),
    (MailFacts(""), Verdict(False, False, "bounce")),
    (MailFacts("Support@Vendor.Example"), Verdict(False, False, "own")),
    # other machine mail: intake (a monitoring alert is a real problem), never answered
    (MailFacts(PERSON, auto_submitted="auto-generated"), Verdict(True, False, "automatic")),
    (MailFacts(PERSON, auto_submitted="auto-notified"), Verdict(True, False, "automatic")),
    (MailFacts(PERSON, precedence="bulk"), Verdict(True, False, "automatic")),
    (MailFacts(PERSON, precedence="Junk"), Verdict(True, False, "automatic")),
    (MailFacts(PERSON, precedence="list"), Verdict(True, False, "automatic")),
    (MailFacts(PERSON, mailing_list=True), Verdict(True, False, "automatic")),
])
def test_classify(facts, verdict):
    assert classify(facts, DESK) == verdict


def test_a_sender_gets_a_few_acknowledgements_an_hour():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert ack_allowed([], now)
    sent = [now - timedelta(minutes=m) for m in (50, 20, 1)]
    assert len(sent) == ACKS_PER_HOUR
    assert ack_allowed(sent[:2], now)
    assert not ack_allowed(sent, now)
    # the oldest falls out of the hour: one more is allowed again
    assert not ack_allowed(sent, now + timedelta(minutes=9, seconds=59))
    assert ack_allowed(sent, now + timedelta(minutes=10))
    assert ack_allowed([now - timedelta(hours=2)] * 10, now)
