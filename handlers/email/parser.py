"""Incoming mail as the desk reads it: sender, threading headers, the key in the subject, readable text,
the part of the text that is new (no quoted history, no signature), attachments as metadata, and the facts
the loop rules look at. Real-world mail is messy; nothing here raises on a malformed message.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from domain.mail_rules import MailFacts
from domain.text import clean, has_words, shown

TEXT_LIMIT = 100_000  # characters of body kept: a pasted log of megabytes belongs in an attachment
ATTACHMENTS_LIMIT = 50  # attachment entries kept per mail
TITLE_LIMIT = 120
MESSAGE_ID_LIMIT = 255  # the length of a stored message reference
REFERENCES_LIMIT = 100  # the newest Message-IDs of References kept: enough for any thread, a bounded query
NAME_LIMIT = 256  # the length of a stored author
FORWARD_DEPTH = 3  # forwarded mails inside forwarded mails read for text
log = logging.getLogger(__name__)
SUBJECT_KEY = re.compile(r"\[([A-Za-z0-9_]{2,16}-\d{1,9})\]")
_MSGID = re.compile(r"<[^<>\s]+>")
_PREFIX = re.compile(r"^\s*((re|fwd?|fw|aw|sv|ha|отв|ответ|пер|перес|переслано)\s*(\[\d+\]|\(\d+\))?\s*:\s*)+",
                     re.IGNORECASE)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int  # bytes, decoded


@dataclass(frozen=True)
class ParsedMail:
    message_id: str  # with angle brackets; made up from the headers when the mail has none
    sender: str  # lower-case address from From
    sender_name: str
    reply_to: str  # where answers go: Reply-To, else From
    subject: str
    key: str | None  # the incident key in the subject, like ACME-12
    in_reply_to: str | None
    references: tuple[str, ...]
    sent_at: datetime | None
    text: str  # the whole readable body
    fresh: str  # what this mail adds: no quoted history, no signature
    attachments: tuple[Attachment, ...]
    facts: MailFacts
    size: int  # bytes on the server
    oversize: bool = False  # bigger than the limit: only the headers were read
    recipients: tuple[str, ...] = field(default=())  # To and Cc, lower-case

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The Message-IDs this mail answers, the nearest first: In-Reply-To, then References newest first."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids += [ref for ref in reversed(self.references) if ref not in ids]
        return tuple(ids)

    @property
    def keys(self) -> tuple[str, ...]:
        return keys_in_subject(self.subject)

    @property
    def title(self) -> str:
        """The incident title: the subject without `Re:` and the key, else the first line of what is new."""
        subject = clean_subject(self.subject)
        if subject:
            return subject[:TITLE_LIMIT]
        line = next((s.strip() for s in self.fresh.splitlines() if s.strip()), "")
        return line[:TITLE_LIMIT]


def clean_subject(subject: str) -> str:
    without_key = SUBJECT_KEY.sub(" ", subject)
    return " ".join(_PREFIX.sub("", " ".join(without_key.split())).split())


def key_in_subject(subject: str) -> str | None:
    match = SUBJECT_KEY.search(subject)
    return match[1].upper() if match else None


def keys_in_subject(subject: str) -> tuple[str, ...]:
    """Every `[X-N]` of the subject in order: a customer's own tracker often puts its key before ours."""
    return tuple(dict.fromkeys(found.upper() for found in SUBJECT_KEY.findall(subject)))[:5]


def _clean(value: str) -> str:
    """Text the database can store: NUL is legal in encoded mail (quoted-printable, base64, RFC 2047) but
    PostgreSQL refuses it in text and JSON, so one NUL would fail the mail's intake every time; and half an
    emoji (UTF-7 spells one: `+2D0-`) becomes U+FFFD, the rule of every channel (`domain.text.clean`)."""
    return clean(value.replace("\x00", ""))


def _ids(value: str) -> list[str]:
    return [_fit(found) for found in _MSGID.findall(_clean(value or ""))]


def _fit(message_id: str) -> str:
    """A Message-ID as the desk stores it: one longer than the stored reference allows is replaced by its
    hash, the same wherever it appears (its own header, In-Reply-To, References), so threading still works."""
    if len(message_id) <= MESSAGE_ID_LIMIT:
        return message_id
    return f"<{hashlib.sha256(message_id.encode()).hexdigest()[:40]}@long-message-id.invalid>"


def _header(msg: EmailMessage, name: str) -> str:
    """A header as text. Mailers that put raw 8-bit koi8-r or windows-1251 into headers (no RFC 2047) come
    through as undecodable bytes; those are decoded with the charsets the mail names, else windows-1251."""
    raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if raw is None:
        return ""
    if isinstance(raw, str) and any("\udc80" <= ch <= "\udcff" for ch in raw):
        data = raw.encode("ascii", "surrogateescape")
        for charset in ["utf-8", *(c for c in msg.get_charsets() if c), "windows-1251"]:
            try:
                return " ".join(data.decode(charset).split())
            except (LookupError, UnicodeDecodeError):
                continue
    try:
        return str(msg.get(name))
    except (ValueError, IndexError, TypeError, AttributeError):  # a header the parser chokes on: its raw text
        return " ".join(str(raw).split())


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")
_ANGLE = re.compile(r"<\s*([^<>\s]*)\s*>")
_ATEXT = r"[^\s<>()\[\]\\,;:@\"]"
_ADDR_SPEC = re.compile(rf"({_ATEXT}{{1,64}})@({_ATEXT}+(?:\.{_ATEXT}+)+|\[[0-9A-Fa-f.:]{{2,45}}\])")
ADDRESS_LIMIT = 254  # RFC 5321: the longest address a mail system carries


def _raw_header(msg: EmailMessage, name: str) -> str:
    """A header exactly as written, unfolded, RFC 2047 encoded words left encoded; raw UTF-8 (RFC 6532) or
    8-bit bytes decoded."""
    raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if raw is None:
        return ""
    raw = str(raw)
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        data = raw.encode("ascii", "surrogateescape")
        for charset in ["utf-8", *(c for c in msg.get_charsets() if c), "windows-1251"]:
            try:
                raw = data.decode(charset)
                break
            except (LookupError, UnicodeDecodeError):
                continue
        else:
            raw = data.decode("utf-8", "replace")
    return " ".join(raw.split())


def normal_address(address: str) -> str | None:
    """One address as the desk stores and matches it: lower case, an internationalised domain as punycode
    (bindings are punycode), or None when it is no single valid address."""
    match = _ADDR_SPEC.fullmatch(address.strip())
    if match is None:
        return None
    local, domain = match[1], match[2].rstrip(".")
    if not domain.startswith("[") and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    found = f"{local}@{domain}".lower()
    return found if len(found) <= ADDRESS_LIMIT else None


def _decoded(words: str) -> str:
    try:
        return str(make_header(decode_header(words)))
    except (LookupError, UnicodeError, ValueError, IndexError):
        return words


def read_sender(header: str) -> tuple[str, str] | None:
    """(display name, address) of a From header, read as mail systems read it (RFC 5322): the address in
    angle brackets wins over whatever the name says (`ivan@acme.ru <attacker@evil.example>` is from
    evil.example); without brackets the whole header, comments aside, must be one address. An encoded word
    is never an address, and a header naming no address or several is unreadable (None): the desk must
    never answer a list of addresses it made up from one header."""
    # Quoted strings and comments blanked out in place, so positions in `bare` are positions in `header`.
    bare = _QUOTED.sub(lambda m: '"' + " " * (len(m[0]) - 2) + '"', header)
    while (uncommented := _COMMENT.sub(lambda m: " " * len(m[0]), bare)) != bare:  # nested: innermost first
        bare = uncommented
    angles = list(_ANGLE.finditer(bare))
    if angles:
        if len(angles) != 1 or (address := normal_address(angles[0][1])) is None:
            return None
        name = _decoded(header[:angles[0].start()].strip()).strip().strip('"').replace('\\"', '"')
    else:
        if (address := normal_address(bare)) is None:
            return None
        comment = _COMMENT.search(header)  # `ivan@acme.ru (Ivan Petrov)`: the old way to give a name
        name = _decoded(comment[0][1:-1]) if comment else ""
    # A name that looks like an address would show the staff an author the mail is not from.
    return ("" if "@" in name else " ".join(name.split())), address


def _part_text(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError, KeyError):  # unknown charset, broken encoding
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


class _HtmlText(HTMLParser):
    """HTML to readable text: blocks on their own lines, list items with a dash, links with their address,
    quoted parts (blockquote, Gmail's and Thunderbird's quote blocks) marked with `>` like plain-text mail."""

    BLOCKS = frozenset({"p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
                        "blockquote", "pre", "hr", "section", "article", "header", "footer", "dt", "dd"})
    PARAGRAPHS = frozenset({"p", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
                            "hr"})  # followed by a blank line
    SKIPPED = frozenset({"script", "style", "head", "title", "template"})
    QUOTE_CLASSES = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted", "protonmail_quote")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.quote = 0
        self.skip = 0
        self.pre = 0
        self.stack: list[tuple[str, bool]] = []  # open block tags and whether each started a quote
        self.href: str | None = None
        self.link_text: list[str] = []

    def _break(self, blank: bool = False) -> None:
        """End the current line; with `blank`, also leave an empty line (a paragraph's end, a second <br>)."""
        text = "".join(self.line)
        text = text.strip("\n") if self.pre else " ".join(text.split())
        if text.strip():
            self.lines.extend(("> " * self.quote + piece).rstrip() for piece in text.split("\n"))
        elif blank and self.lines and self.lines[-1]:
            self.lines.append("")
        self.line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self.skip += 1
            return
        if tag == "a":
            self.href, self.link_text = dict(attrs).get("href"), []
        if tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.line.append(f"[{alt}]")
        if tag not in self.BLOCKS:
            return
        self._break(blank=tag == "br")
        classes = dict(attrs).get("class") or ""
        quoting = tag == "blockquote" or any(c in classes for c in self.QUOTE_CLASSES)
        if tag != "br":
            self.stack.append((tag, quoting))
        self.quote += quoting
        self.pre += tag == "pre"
        if tag == "li":
            self.line.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "a" and self.href is not None:
            text = "".join(self.link_text).strip()
            if self.href.startswith(("http://", "https://")) and self.href != text and text:
                self.line.append(f" ({self.href})")
            self.href = None
        if tag not in self.BLOCKS or tag == "br":
            return
        self._break()
        # Close up to the matching open tag: HTML in mail often leaves inner tags unclosed.
        while self.stack:
            open_tag, quoting = self.stack.pop()
            self.quote -= quoting
            self.pre -= open_tag == "pre"
            if open_tag == tag:
                break
        if tag in self.PARAGRAPHS:
            self._break(blank=True)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.line.append(data)
        if self.href is not None:
            self.link_text.append(data)

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines).strip()


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # hopeless markup: keep what was read
        pass
    return parser.text()


# Where the quoted history starts: an attribution line, a forwarded-original separator, an Outlook header
# block. Only the first match matters; everything from it on is history.
_ATTRIBUTION = re.compile(
    r"^\s*("
    r"on\b.{0,200}\bwrote:\s*$"
    r"|.{0,200}\b(писал|писала|написал|написала|пишет)(\(а\))?:\s*$"
    r"|-{2,}\s*(original message|исходное сообщение|forwarded message|пересылаемое сообщение)\s*-{2,}\s*$"
    r"|_{10,}\s*$"
    r")",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^\s*\**(from|от|отправитель)\s*:\**\s", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*\**(sent|date|to|subject|отправлено|дата|кому|тема)\s*:", re.IGNORECASE)
_SIGNATURE = re.compile(r"^(-- ?|—)$")
_SIGN_OFF = re.compile(
    r"^\s*(best regards|kind regards|regards|best wishes|cheers|thanks and regards|с уважением|с наилучшими пожеланиями"
    r"|всего доброго|sent from my \w+|отправлено с (моего )?\w+|отправлено из .{0,60})[,.!]?\s*$",
    re.IGNORECASE,
)
SIGN_OFF_TAIL = 8  # a sign-off counts only near the end: "Regards" in the middle may start a real sentence


def fresh_text(text: str) -> str:
    """What a mail adds to its thread: the text before the quoted history and the signature."""
    lines = text.splitlines()
    end = len(lines)
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">") or _ATTRIBUTION.match(line) or _SIGNATURE.match(line.rstrip()):
            end = i
            break
        if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_NEXT.match(n) for n in lines[i + 1:i + 4]):
            end = i
            break
    kept = lines[:end]
    for i, line in enumerate(kept):
        if _SIGN_OFF.match(line) and len(kept) - i <= SIGN_OFF_TAIL:
            kept = kept[:i]
            break
    fresh = "\n".join(kept).strip()
    if fresh:
        return fresh
    # Everything looked quoted (an answer written between the quoted lines): keep the unquoted lines.
    return "\n".join(line for line in lines if not line.lstrip().startswith(">")).strip()


_BROKEN = (ValueError, IndexError, TypeError, AttributeError, LookupError, UnicodeError, AssertionError, KeyError)


def _disposition(part: EmailMessage) -> tuple[str | None, str]:
    """(disposition, filename) of a part; a Content-Disposition the standard parser chokes on (`filename*`
    without a value) counts as an attachment without a name rather than failing the whole mail."""
    try:
        return part.get_content_disposition(), _clean(part.get_filename() or "")
    except _BROKEN:
        return "attachment", ""


def _body(msg: EmailMessage, subtype: str) -> EmailMessage | None:
    try:
        return msg.get_body(preferencelist=(subtype,))
    except _BROKEN:  # a malformed Content-Disposition somewhere: the first such text part that is no attachment
        return next((part for part in msg.walk() if part.get_content_type() == f"text/{subtype}"
                     and _disposition(part)[0] != "attachment"), None)


def _readable(msg: EmailMessage, depth: int = 0) -> tuple[str, EmailMessage | None]:
    """The mail's text and the part it came from: the plain text, else (missing or blank) the HTML; a mail
    with no text of its own that forwards one (message/rfc822) is read as the forwarded mail's text."""
    for subtype in ("plain", "html"):
        part = _body(msg, subtype)
        if part is None:
            continue
        content = _part_text(part)
        text = html_to_text(content) if subtype == "html" else content
        if has_words(text):  # a blank plain part (spaces, zero-width characters): the HTML
            return text, part
    if depth >= FORWARD_DEPTH:
        return "", None
    for part in msg.walk():
        if part.get_content_type() != "message/rfc822" or not part.is_multipart():
            continue
        inner = part.get_payload(0)
        if isinstance(inner, EmailMessage):
            text, _ = _readable(inner, depth + 1)
            head = "\n".join(f"{name}: {_header(inner, name)}" for name in ("From", "Date", "Subject")
                             if _header(inner, name))
            return f"---------- Forwarded message ----------\n{head}\n\n{text}", None
    return "", None


def _attachments(msg: EmailMessage, body: EmailMessage | None) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for part in msg.walk():
        forwarded = part.get_content_type() == "message/rfc822"  # kept as a file, like a mail program does
        if part is body or (part.is_multipart() and not forwarded):
            continue
        disposition, filename = _disposition(part)
        if not filename and disposition != "attachment" and part.get_content_maintype() == "text":
            continue  # the other alternative of the body (the HTML twin of the plain text)
        try:
            size = len(part.get_payload(0).as_bytes()) if forwarded else len(part.get_payload(decode=True) or b"")
        except _BROKEN:
            size = 0
        found.append(Attachment(filename[:256], _clean(part.get_content_type())[:255], size))
        if len(found) >= ATTACHMENTS_LIMIT:
            break
    return tuple(found)


def _facts(msg: EmailMessage, sender: str) -> MailFacts:
    def has(name: str) -> bool:
        return msg.get(name) is not None

    return MailFacts(
        sender=sender,
        auto_submitted=_header(msg, "Auto-Submitted"),
        precedence=_header(msg, "Precedence"),
        mailing_list=has("List-Id") or has("List-Unsubscribe"),
        autoreply_header=has("X-Autoreply") or has("X-Autorespond"),
        null_return_path=_header(msg, "Return-Path").strip() == "<>",
        delivery_report=msg.get_content_type() == "multipart/report",
        dmarc_failed_by=_dmarc_failed_by(msg),
    )


_DMARC = re.compile(r"\bdmarc\s*=\s*([a-z]+)", re.IGNORECASE)


def _dmarc_failed_by(msg: EmailMessage) -> tuple[str, ...]:
    """The servers (authserv-ids, RFC 8601) whose Authentication-Results say the mail failed DMARC."""
    found = []
    for name, value in msg.raw_items():
        if name.lower() != "authentication-results":
            continue
        text = " ".join(str(value).split())
        verdict = _DMARC.search(text)
        if verdict and verdict[1].lower() == "fail":
            found.append(text.split(";", 1)[0].strip().split(" ", 1)[0])
    return tuple(found[:10])


def _made_up_id(raw: bytes) -> str:
    """A stable Message-ID for a mail without one, so the same mail fetched twice is recognised: a hash of
    the whole mail, since two alerts from one script often differ only in their text."""
    return f"<{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id.invalid>"


def parse_mail(raw: bytes, size: int | None = None, max_size: int | None = None) -> ParsedMail:
    """Read a mail. With `size` over `max_size`, `raw` holds only the headers (the IMAP loop fetched no
    more) and the mail is marked oversize: it is still acknowledged and kept on the server. Never raises:
    a mail the standard parser still fails on comes out without a sender, so it is taken in as unreadable
    (flagged in the mailbox for a person) instead of stopping the mail behind it."""
    size = len(raw) if size is None else size
    try:
        return _parse(raw, size, max_size)
    except Exception:  # any failure of the standard library on hostile input
        log.warning("a mail of %d bytes could not be parsed", size, exc_info=True)
        return ParsedMail(message_id=_made_up_id(raw), sender="", sender_name="", reply_to="", subject="",
                          key=None, in_reply_to=None, references=(), sent_at=None, text="", fresh="",
                          attachments=(), facts=MailFacts(sender=""), size=size)


def _parse(raw: bytes, size: int, max_size: int | None) -> ParsedMail:
    oversize = max_size is not None and size > max_size
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)

    name, sender = read_sender(_clean(_raw_header(msg, "From"))) or ("", "")
    reply_to = _clean(parseaddr(_header(msg, "Reply-To"))[1]).strip().lower() or sender
    subject = " ".join(_clean(_header(msg, "Subject")).split())
    ids = _ids(_header(msg, "Message-ID"))
    in_reply_to = next(iter(_ids(_header(msg, "In-Reply-To"))), None)
    recipients = tuple(_clean(a).lower()
                       for _, a in getaddresses([_header(msg, "To"), _header(msg, "Cc")]) if a)
    try:
        date = msg["Date"].datetime if msg["Date"] is not None else None
    except (AttributeError, ValueError, TypeError, IndexError):
        date = None
    if date is not None and date.tzinfo is None:
        date = date.replace(tzinfo=UTC)

    text, body, attachments = "", None, ()
    if not oversize:
        text, body = _readable(msg)
        text = _clean(text).replace("\r\n", "\n").strip()[:TEXT_LIMIT]
        attachments = _attachments(msg, body)
    return ParsedMail(
        message_id=ids[0] if ids else _made_up_id(raw),
        sender=sender,
        sender_name=" ".join(shown(name).split())[:NAME_LIMIT],
        reply_to=reply_to,
        subject=subject,
        key=key_in_subject(subject),
        in_reply_to=in_reply_to,
        references=tuple(_ids(_header(msg, "References"))[-REFERENCES_LIMIT:]),
        sent_at=date,
        text=text,
        fresh=fresh_text(text),
        attachments=attachments,
        facts=_facts(msg, sender),
        size=size,
        oversize=oversize,
        recipients=recipients,
    )
