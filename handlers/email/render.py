"""The desk's mail in the reader's language: the acknowledgement of a new incident, a staff answer, a report.
Each is an `OutgoingMail` (plain values); `smtp.compose` turns it into headers and MIME parts."""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from domain.models import Incident
from domain.sla import Sla
from handlers.email.parser import clean_subject
from handlers.email.smtp import Attachment, OutgoingMail
from locales import t
from locales.ack_text import ack_lines

MB = 1024 * 1024


def _thread(answered: str | None, references: tuple[str, ...]) -> dict:
    return {"in_reply_to": answered, "references": references}


def ack_mail(incident: Incident, lang: str, sla: Sla, zone: ZoneInfo, now: datetime, to: str, subject: str,
             answered: str | None, references: tuple[str, ...] = (), oversize_limit: int | None = None) -> OutgoingMail:
    """What we received, how urgent, by when we answer in the customer's time, and how to add details.
    `oversize_limit`: the mail was over it and only its headers were read; the customer is told so."""
    lines = ack_lines(incident, lang, sla, zone, now)
    if oversize_limit is not None:
        lines += ["", t(lang, "email.oversize", limit=t(lang, "email.megabytes", count=max(1, oversize_limit // MB)))]
    lines += ["", t(lang, "email.ack_details", key=incident.key)]
    return OutgoingMail(to=to, key=incident.key, subject=_re(subject or incident.title), text="\n".join(lines),
                        auto_submitted="auto-replied", kind="ack", **_thread(answered, references))


def reply_mail(incident: Incident, text: str, author: str, sender: str, to: str, answered: str | None,
               references: tuple[str, ...]) -> OutgoingMail:
    """A staff member's answer, in the incident's thread, signed with their name and the desk's."""
    desk = parseaddr(sender)[0]
    signature = "\n".join(part for part in (author, desk) if part)
    body = f"{text.strip()}\n\n-- \n{signature}" if signature else text.strip()
    return OutgoingMail(to=to, key=incident.key, subject=_re(incident.title), text=body, kind="reply",
                        **_thread(answered, references))


def report_mail(code: str, subject: str, text: str, chart: bytes | None, to: str) -> OutgoingMail:
    """A periodic report: its text, and the chart attached. Tagged with the customer's code, so an answer
    to it (no incident key) opens a new incident of that customer, as any new mail does."""
    attachments = (Attachment("report.png", "image/png", chart),) if chart else ()
    return OutgoingMail(to=to, key=code, subject=subject, text=text, attachments=attachments,
                        auto_submitted="auto-generated", kind="report")


def _re(subject: str) -> str:
    return f"Re: {clean_subject(subject)}".strip()
