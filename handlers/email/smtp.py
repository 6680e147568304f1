"""The SMTP sender: composes the desk's mail with the incident key in the subject and proper threading
headers, sends it with aiosmtplib, and tells a failure worth retrying from one that is not."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib

import telemetry
from bot.mail_settings import MailSettings
from handlers.email.parser import SUBJECT_KEY

log = logging.getLogger(__name__)

SEND_TIMEOUT = 60.0  # seconds: a report with its chart over a slow relay
REFERENCES_KEPT = 20  # the thread's root and the newest ids are what mail programs use


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # like image/png
    data: bytes


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    key: str  # the incident key, always in the subject: an answer to this mail threads by it
    subject: str
    text: str
    in_reply_to: str | None = None  # the Message-ID this mail answers
    references: tuple[str, ...] = ()  # the thread before it, oldest first
    attachments: tuple[Attachment, ...] = ()
    # Written by the desk, not typed by a person: "auto-replied" (acknowledgements) or "auto-generated"
    # (reports), so that other desks and vacation programs do not answer it (RFC 3834). "" for a person's.
    auto_submitted: str = ""
    kind: str = "mail"  # for the metrics: ack reply report …
    cc: tuple[str, ...] = ()


class SendError(Exception):
    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent  # the server refused this mail for good (a bad address): do not retry


def subject_with_key(key: str, subject: str) -> str:
    """The subject with `[KEY]` in it once: kept where the thread already has it, else put in front."""
    subject = " ".join(subject.split())
    found = SUBJECT_KEY.search(subject)
    if found and found[1].upper() == key.upper():
        return subject
    return f"[{key}] {subject}".strip()


def compose(mail: OutgoingMail, settings: MailSettings, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = mail.to
    if mail.cc:
        msg["Cc"] = ", ".join(mail.cc)
    msg["Subject"] = subject_with_key(mail.key, mail.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(idstring=mail.key.lower(), domain=settings.domain)
    # RFC 5322 3.6.4: References is the parent's References plus the parent's Message-ID.
    thread = [ref for ref in mail.references if ref != mail.in_reply_to]
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
        thread.append(mail.in_reply_to)
    if thread:
        kept = thread if len(thread) <= REFERENCES_KEPT else [thread[0], *thread[-(REFERENCES_KEPT - 1):]]
        msg["References"] = " ".join(kept)
    if mail.auto_submitted:
        msg["Auto-Submitted"] = mail.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office answers to this
    msg.set_content(mail.text)
    for item in mail.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype or "octet-stream", filename=item.filename)
    return msg


class SmtpSender:
    def __init__(self, settings: MailSettings, tls_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.tls_context = tls_context  # None: the system's trusted authorities (a test passes its own)

    async def send(self, msg: EmailMessage, kind: str = "mail") -> None:
        server = self.settings.smtp
        try:
            await aiosmtplib.send(
                msg, hostname=server.host, port=server.port,
                username=server.user or None, password=server.password or None,
                use_tls=server.tls, start_tls=server.starttls, tls_context=self.tls_context, timeout=SEND_TIMEOUT)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            raise SendError(f"recipient refused: {codes}", permanent=all(500 <= c < 600 for c in codes)) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # A wrong password fails every mail alike: retried, so mail goes out once the setting is fixed.
            raise SendError(f"SMTP login refused: {exc.code}", permanent=False) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendError(f"SMTP {exc.code}: {exc.message}"[:300], permanent=500 <= exc.code < 600) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendError(f"{type(exc).__name__}: {exc}"[:300], permanent=False) from exc
        telemetry.MAILS_OUT.labels(kind).inc()
