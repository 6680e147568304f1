"""Who a mail is from, as the mail system reads From (RFC 5322): the bracketed address wins, an encoded word
or a list is no sender, an internationalised domain is stored as punycode."""

from __future__ import annotations

import pytest

from handlers.email.parser import parse_mail, read_sender


@pytest.mark.parametrize(("header", "expected"), [
    ("Ivan Petrov <Ivan@Acme.RU>", ("Ivan Petrov", "ivan@acme.ru")),
    ("ivan@acme.ru <attacker@evil.example>", ("", "attacker@evil.example")),  # a name like an address: dropped
    ('"<ivan@acme.ru>" <x@evil.example>', ("", "x@evil.example")),
    ("(<ivan@acme.ru>) x@evil.example", ("", "x@evil.example")),
    ("Ivan Petrov, Acme <ivan@acme.ru>", ("Ivan Petrov, Acme", "ivan@acme.ru")),
    ("ivan@acme.ru (Ivan Petrov)", ("Ivan Petrov", "ivan@acme.ru")),
    ("=?utf-8?b?0JjQstCw0L0=?= <ivan@acme.ru>", ("Иван", "ivan@acme.ru")),
    ("Иван <ivan@пример.рф>", ("Иван", "ivan@xn--e1afmkfd.xn--p1ai")),
])
def test_the_sender_is_the_address_the_mail_system_saw(header, expected):
    assert read_sender(header) == expected


@pytest.mark.parametrize("header", [
    "=?utf-8?b?aXZhbkBhY21lLnJ1?=",  # an encoded word where the address belongs
    "a@acme.ru, b@acme.ru", "<a@acme.ru>, <b@acme.ru>", "Group: a@acme.ru;", "undisclosed-recipients:;",
    "", "Ivan Petrov", "a" * 300 + "@acme.ru",
])
def test_no_single_address_is_unreadable(header):
    assert read_sender(header) is None


def test_a_mail_without_a_readable_sender_has_none():
    parsed = parse_mail(b"From: a@acme.ru, b@acme.ru\r\nSubject: x\r\n\r\nhello\r\n")
    assert parsed.sender == ""


def test_dmarc_fail_from_the_desks_own_server_takes_the_acknowledgement_away():
    from domain.mail_rules import Verdict, classify

    def verdict(results: str) -> Verdict:
        data = (f"From: cfo@acme.ru\r\nSubject: x\r\nAuthentication-Results: {results}\r\n\r\nhi\r\n").encode()
        return classify(parse_mail(data).facts, "support@vendor.example")

    assert verdict("mx.vendor.example; spf=fail; dmarc=fail (p=none) header.from=acme.ru") == \
        Verdict(True, False, "forged")
    assert verdict("mx.vendor.example; dmarc=pass header.from=acme.ru") == Verdict(True, True)
    # Another server's word (the forger's own, written into the mail) is not the desk's to judge by.
    assert verdict("mx.evil.example; dmarc=fail header.from=acme.ru") == Verdict(True, True)
