"""Real-world MIME the parser must not lose: a forwarded mail (message/rfc822, Outlook's "Forward as
attachment" and many phone clients), a plain alternative that is empty while the HTML one has the text,
and HTML carrying scripts (held)."""

from __future__ import annotations

import pytest

from handlers.email.parser import parse_mail

INNER = "From: monitor@acme.ru\r\nSubject: CRITICAL db1 down\r\n\r\nPostgreSQL on db1 is not responding since 03:10\r\n"
HEAD = "From: ivan@acme.ru\r\nTo: support@vendor.example\r\nSubject: Fwd: CRITICAL db1 down\r\nMIME-Version: 1.0\r\n"

FORWARDS = {
    "attached": HEAD + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n"
                       "Content-Disposition: attachment; filename=alert.eml\r\n\r\n" + INNER + "\r\n--b--\r\n",
    "whole": HEAD + "Content-Type: message/rfc822\r\n\r\n" + INNER,
}


@pytest.mark.parametrize("shape", list(FORWARDS))
def test_a_forwarded_mail_is_not_lost(shape):
    parsed = parse_mail(FORWARDS[shape].encode())
    kept = parsed.text + " ".join(f"{a.filename} {a.content_type}" for a in parsed.attachments)
    assert "db1 is not responding" in parsed.text or "message/rfc822" in kept, (parsed.text, parsed.attachments)


def test_an_empty_plain_alternative_falls_back_to_html():
    raw = (b"From: ivan@acme.ru\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/alternative; boundary=q\r\n\r\n"
           b"--q\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n"
           b"--q\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>The real text is here</p>\r\n--q--\r\n")
    assert "The real text is here" in parse_mail(raw).text


def test_html_scripts_and_deceptive_links_are_shown_safely():
    """Held: scripts and styles are dropped; a link whose text is another address shows the real one."""
    raw = (b"From: ivan@acme.ru\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
           b"<html><head><style>p{}</style><script>alert(1)</script></head><body><p>Hello <b>world</b></p>"
           b"<script>steal()</script><a href=\"http://evil.example/x\">https://acme.ru/login</a></body></html>")
    text = parse_mail(raw).text
    assert "alert" not in text and "steal" not in text and "p{}" not in text
    assert "Hello world" in text and "(http://evil.example/x)" in text
