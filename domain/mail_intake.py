"""A mail becomes part of an incident through the same intake as a Telegram message (SPEC section 10).

Which conversation: the sender's own address when it is bound, else its domain; mail from anywhere else
goes to the unbound inbox (and gets no answer: answering strangers is how a desk sends spam).
Which incident, as the mature desks do it: `[KEY]` in the subject wins (the customer's own incidents
only); else `In-Reply-To`/`References` matched against the Message-IDs the desk stored (the customer's
mails and its own); else a new incident. Never the "recent open incident" rule of chats: two mails about
two problems are two incidents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from domain import identities, invitations, outbox
from domain.inbox import IncomingMessage, keep_unbound
from domain.intake import Windows, record_customer_message
from domain.mail_rules import MailFacts, classify, domain_of
from domain.mailbox import claim_acknowledgement
from domain.models import Incident, IncidentMessage
from domain.sla import Sla


@dataclass(frozen=True)
class IncomingMail:
    """A mail as the desk keeps it, read by the e-mail channel: plain values, no `email` objects."""

    sender: str  # lower-case address
    sender_name: str
    message_id: str
    subject: str  # without Re:/Fwd: and the key: the title of a new incident
    key: str | None  # `[KEY]` in the subject
    thread_ids: tuple[str, ...]  # In-Reply-To, then References newest first
    text: str  # the whole readable body
    attachments: list[dict[str, str]]
    sent_at: datetime | None
    facts: MailFacts
    keys: tuple[str, ...] = ()  # every `[KEY]` in the subject, in order (`key` is the first)


@dataclass(frozen=True)
class MailResult:
    outcome: str  # intake joined unbound duplicate, or why it was no intake: unreadable own bounce auto-reply
    incident: Incident | None = None
    acknowledged: bool = False  # an acknowledgement by mail is owed (written by `on_created`)


# The new incident, the Message-ID that opened it, now, and whether the sender is owed a mail about it.
OnMailCreated = Callable[[Incident, str, datetime, bool], Awaitable[None]]


async def continued_incident(keys: tuple[str, ...], thread_ids: tuple[str, ...],
                             customer_id: int) -> Incident | None:
    """The customer's incident a mail continues: by a key in its subject (the first that is the customer's:
    another tracker's key may come first), else by the nearest Message-ID it answers that the desk stored.
    Another customer's key is ignored, so no one writes into it."""
    for key in keys:
        found = await Incident.get_or_none(key=key.upper(), customer_id=customer_id)
        if found is not None:
            return found
    if not thread_ids:
        return None
    rows = await IncidentMessage.filter(ref__in=list(thread_ids), incident__customer_id=customer_id).select_related(
        "incident")
    by_ref = {row.ref: row.incident for row in rows}
    return next((by_ref[ref] for ref in thread_ids if ref in by_ref), None)


async def take_mail(mail: IncomingMail, desk_address: str, sla: Sla, windows: Windows, now: datetime,
                    on_created: OnMailCreated | None = None,
                    on_reopened: Callable[[Incident], Awaitable[None]] | None = None) -> MailResult:
    if not mail.sender:  # From named no single valid address: nobody to bind it to or to answer
        return MailResult("unreadable")
    verdict = classify(mail.facts, desk_address)
    if not verdict.intake:
        return MailResult(verdict.reason)
    conversation = (await identities.conversation_of(identities.EMAIL, mail.sender)
                    or await identities.conversation_of(identities.EMAIL, domain_of(mail.sender)))
    # A person row only for a bound sender: every stranger's spam would add one otherwise.
    person = (await identities.person_for(identities.EMAIL, mail.sender, now, mail.sender_name)
              if conversation is not None else None)
    sent_at = min(mail.sent_at or now, now)
    continues = None
    if conversation is not None:
        keys = mail.keys or ((mail.key,) if mail.key else ())
        continues = await continued_incident(keys, mail.thread_ids, conversation.customer_id)
    # A live code in a mail has been read by everyone it went to, in its subject as in its body (a reply's subject
    # too, though only a new incident keeps it): burnt, and masked in what the desk keeps. The mail is taken in all
    # the same (a mail is never dropped; the code in it is dead now) and a bound sender told.
    shown = await invitations.burn_shown(f"{mail.subject}\n\n{mail.text}", conversation,
                                         person.id if person else None, now, mail.sender)
    subject, body = shown.text.split("\n\n", 1) if shown.found else (mail.subject, mail.text)
    # A new incident's title is the subject: kept as the first line of what the customer wrote.
    text = f"{subject}\n\n{body}".strip() if continues is None and subject else body
    message = IncomingMessage(
        channel=identities.EMAIL, conversation=conversation.ref if conversation else mail.sender, ref=mail.message_id,
        person_id=person.id if person else None, author=mail.sender_name or mail.sender, text=text,
        attachments=mail.attachments, sent_at=sent_at, title=mail.sender)
    if conversation is None:
        await keep_unbound(message, now)
        return MailResult("unbound")

    acknowledged = False

    async def created(incident: Incident, ref: str, moment: datetime) -> None:
        nonlocal acknowledged
        acknowledged = verdict.acknowledge and await claim_acknowledgement(mail.sender, moment)
        if on_created is not None:
            await on_created(incident, ref, moment, acknowledged)

    result = await record_customer_message(message, conversation, sla, windows, now, force_new=continues is None,
                                           on_created=created, on_reopened=on_reopened, continues=continues)
    if result.duplicate:
        return MailResult("duplicate")
    if shown.burnt and result.incident is not None:
        await outbox.enqueue("notice", outbox.person(person.id, channel=identities.EMAIL), now,
                             params=outbox.say("burn.shown_mail"), incident_id=result.incident.id,
                             dedupe=f"burnt-mail:{person.id}:{mail.message_id}")
    return MailResult("intake" if result.created else "joined", result.incident, acknowledged)
