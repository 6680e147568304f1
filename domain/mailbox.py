"""The mailbox's durable bookkeeping: how far intake has gone, which mails were taken, who was acknowledged.

A mail is taken in by one transaction that runs its intake, records its Message-ID and moves the mailbox's
last UID past it. So a crash before the commit leaves the mail to be fetched again, and a crash after it
finds the UID passed: no mail is lost and none is doubled. Only then may the server copy be flagged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from domain.mail_rules import ACK_WINDOW, DOMAIN_ACKS_PER_HOUR, ack_allowed, domain_of
from domain.models import MailAck, MailboxState, MailIn


@dataclass(frozen=True)
class Position:
    uidvalidity: int
    last_uid: int  # mails with a higher UID have not been taken in
    renumbered: bool = False  # the server's UIDVALIDITY changed: every mail there is looked at again
    fresh: bool = field(default=False, compare=False)  # the desk's first look at this mailbox


async def position(mailbox: str, uidvalidity: int, now: datetime) -> Position:
    """Where to go on in `mailbox`. A new UIDVALIDITY invalidates the stored UIDs: start from 0 and let the
    recorded Message-IDs recognise the mails already taken."""
    async with in_transaction():
        state, created = await MailboxState.get_or_create(
            mailbox=mailbox, defaults={"uidvalidity": uidvalidity, "last_uid": 0, "updated_at": now})
        if state.uidvalidity == uidvalidity:
            return Position(uidvalidity, state.last_uid, fresh=created)
        await MailboxState.filter(id=state.id).update(uidvalidity=uidvalidity, last_uid=0, updated_at=now)
        return Position(uidvalidity, 0, renumbered=True)


async def take_in(mailbox: str, uidvalidity: int, uid: int, message_id: str, sender: str, now: datetime,
                  intake: Callable[[], Awaitable[str]]) -> str | None:
    """Take one mail in: run `intake` (which returns the outcome to record: "intake", or why not) unless this
    Message-ID was taken before from this sender, and move the mailbox past `uid`, all in one transaction.
    Returns the outcome, or None for a mail already taken."""
    async with in_transaction():
        await MailboxState.filter(mailbox=mailbox, uidvalidity=uidvalidity, last_uid__lt=uid).update(
            last_uid=uid, updated_at=now)
        sender = sender[:320]
        # A mail is the same mail by its Message-ID AND its sender: monitoring scripts reuse fixed ids, and
        # anyone copied on a mail knows its id, so an id alone would let one mail silence another. The first
        # sender of an id keeps it as the row's key; another sender's mail is kept under a key of its own.
        if await taken(message_id, sender):
            return None
        key = _reused_key(message_id, sender) if await MailIn.exists(message_id=message_id) else message_id
        outcome = await intake()
        await MailIn.create(message_id=key, mailbox=mailbox, uidvalidity=uidvalidity, uid=uid,
                            sender=sender, outcome=outcome[:16], received_at=now)
        return outcome


def _reused_key(message_id: str, sender: str) -> str:
    digest = hashlib.sha256(f"{message_id}\n{sender}".encode()).hexdigest()[:40]
    return f"<{digest}@reused-message-id.invalid>"


async def move_past(mailbox: str, uidvalidity: int, uid: int, now: datetime) -> None:
    """Go on after `uid` without taking it in: a mail the desk must not take (read by people before the
    desk's first start), or one already taken before the mailbox was rebuilt."""
    await MailboxState.filter(mailbox=mailbox, uidvalidity=uidvalidity, last_uid__lt=uid).update(
        last_uid=uid, updated_at=now)


async def taken(message_id: str, sender: str) -> bool:
    """Whether this mail (its Message-ID from this sender) was taken before."""
    sender = sender[:320]
    return await MailIn.filter(Q(message_id=message_id, sender=sender)
                               | Q(message_id=_reused_key(message_id, sender))).exists()


async def claim_acknowledgement(sender: str, now: datetime) -> bool:
    """Whether this sender may get one more acknowledgement now; if so it is counted. Call it in the
    transaction that writes the acknowledgement, so the count and the mail agree."""
    sender = sender.lower()
    await MailAck.filter(sender=sender, sent_at__lte=now - ACK_WINDOW).delete()  # no longer counts
    earlier = await MailAck.filter(sender=sender).values_list("sent_at", flat=True)
    if not ack_allowed(earlier, now):
        return False
    in_domain = await MailAck.filter(sender__endswith=f"@{domain_of(sender)}", sent_at__gt=now - ACK_WINDOW,
                                     ).values_list("sent_at", flat=True)
    if not ack_allowed(in_domain, now, DOMAIN_ACKS_PER_HOUR):
        return False
    await MailAck.create(sender=sender, sent_at=now)
    return True
