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
