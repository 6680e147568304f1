"""From a fetched mail to the desk's intake: the parsed mail as the domain's plain values, and the `deliver`
the IMAP loop calls inside the transaction that takes the mail in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from domain import alerts, identities, outbox
from domain.clock import Clock
from domain.intake import Windows
from domain.mail_intake import IncomingMail, OnMailCreated, take_mail
from domain.models import Incident, IncidentMessage
from domain.sla import Sla
from handlers.email.imap import Deliver, OnUnreadable
from handlers.email.parser import ParsedMail, clean_subject
from handlers.pings import make_staff_notices


def attachment_kind(content_type: str) -> str:
    """The attachment kinds the desk shows (as Telegram's): an image is a photo, anything else a document."""
    return "photo" if content_type.startswith("image/") else "document"


def incoming(parsed: ParsedMail) -> IncomingMail:
    attachments = [{"kind": attachment_kind(a.content_type), "name": a.filename, "type": a.content_type,
                    "size": str(a.size)} for a in parsed.attachments]
    if parsed.oversize:  # only the headers were read: the mail itself stays in the mailbox, flagged
        attachments.append({"kind": "mail_too_large", "name": "", "type": "message/rfc822", "size": str(parsed.size)})
    return IncomingMail(
        sender=parsed.sender, sender_name=parsed.sender_name, message_id=parsed.message_id,
        subject=clean_subject(parsed.subject),
        key=parsed.key, keys=parsed.keys, thread_ids=parsed.thread_ids, text=parsed.text, attachments=attachments,
        sent_at=parsed.sent_at, facts=parsed.facts)


def make_deliver(desk_address: str, sla: Sla, windows: Windows, clock: Clock,
                 on_created: OnMailCreated | None = None,
                 reopened: Callable[[datetime], Callable[[Incident], Awaitable[None]]] | None = None) -> Deliver:
    """`reopened(now)` owes what a reopening mail owes (the customer told, as a chat's customer is)."""
    async def deliver(parsed: ParsedMail) -> str:
        now: datetime = clock.now()
        result = await take_mail(incoming(parsed), desk_address, sla, windows, now, on_created=on_created,
                                 on_reopened=reopened(now) if reopened is not None else None)
        return result.outcome
    return deliver


def make_on_mail_created(settings, sla: Sla) -> OnMailCreated:
    """A mail opened an incident: the sender is acknowledged by mail (unless the loop rules say no), the
    staff are told and the on-call engineer pinged, as for a chat; all owed in the intake's transaction."""
    staff_notices = make_staff_notices(settings, sla)

    async def on_created(incident: Incident, message_ref: str, now: datetime, acknowledge: bool) -> None:
        if acknowledge and incident.reporter_id is not None:
            oversize = await _oversize(incident.id, message_ref)
            await outbox.enqueue("ack", outbox.person(incident.reporter_id, channel=identities.EMAIL), now,
                                 rank=outbox.RANK_PING, params={"oversize": oversize}, incident_id=incident.id,
                                 dedupe=f"ack:{incident.id}")
        await staff_notices(incident, now)
    return on_created


async def _oversize(incident_id: int, ref: str) -> bool:
    """Whether the mail was over the size limit (only its headers were read)."""
    message = await IncidentMessage.get_or_none(incident_id=incident_id, ref=ref)
    return bool(message and any(a.get("kind") == "mail_too_large" for a in message.attachments))


def make_on_unreadable(settings, clock: Clock) -> OnUnreadable:
    """A mail the desk gave up on: each lead is told once (in the transaction that records it), with what
    a person needs to find it in the mailbox, where it is left flagged."""
    async def on_unreadable(parsed: ParsedMail, error: str) -> None:
        say = outbox.say("mailfix.unreadable", sender=parsed.sender or "—", subject=parsed.subject[:200] or "—",
                         message_id=parsed.message_id, error=error)
        for lead_id in await alerts.leads(settings.lead_ids):
            await outbox.enqueue("notice", outbox.person(lead_id), clock.now(), params=say,
                                 dedupe=f"mail_unreadable:{parsed.message_id}:{lead_id}")
    return on_unreadable
