"""The mailbox's durable bookkeeping: how far intake has gone, which mails were taken, who was acknowledged.

A mail is taken in by one transaction that runs its intake, records its Message-ID and moves the mailbox's
last UID past it. So a crash before the commit leaves the mail to be fetched again, and a crash after it
finds the UID passed: no mail is lost and none is doubled. Only then may the server copy be flagged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from domain.mail_rules import ACK_WINDOW, ack_allowed
from domain.models import MailAck, MailboxState, MailIn


@dataclass(frozen=True)
class Position:
    uidvalidity: int
    last_uid: int  # mails with a higher UID have not been taken in
    renumbered: bool = False  # the server's UIDVALIDITY changed: every mail there is looked at again


async def position(mailbox: str, uidvalidity: int, now: datetime) -> Position:
    """Where to go on in `mailbox`. A new UIDVALIDITY invalidates the stored UIDs: start from 0 and let the
    recorded Message-IDs recognise the mails already taken."""
    async with in_transaction():
        state, _ = await MailboxState.get_or_create(
            mailbox=mailbox, defaults={"uidvalidity": uidvalidity, "last_uid": 0, "updated_at": now})
        if state.uidvalidity == uidvalidity:
            return Position(uidvalidity, state.last_uid)
        await MailboxState.filter(id=state.id).update(uidvalidity=uidvalidity, last_uid=0, updated_at=now)
        return Position(uidvalidity, 0, renumbered=True)


async def take_in(mailbox: str, uidvalidity: int, uid: int, message_id: str, sender: str, now: datetime,
                  intake: Callable[[], Awaitable[str]]) -> str | None:
    """Take one mail in: run `intake` (which returns the outcome to record: "intake", or why not) unless this
    Message-ID was taken before, and move the mailbox past `uid`, all in one transaction. Returns the
    outcome, or None for a mail already taken."""
    async with in_transaction():
        await MailboxState.filter(mailbox=mailbox, uidvalidity=uidvalidity, last_uid__lt=uid).update(
            last_uid=uid, updated_at=now)
        if await MailIn.exists(message_id=message_id):
            return None
        outcome = await intake()
        await MailIn.create(message_id=message_id, mailbox=mailbox, uidvalidity=uidvalidity, uid=uid,
                            sender=sender[:320], outcome=outcome[:16], received_at=now)
        return outcome


async def claim_acknowledgement(sender: str, now: datetime) -> bool:
    """Whether this sender may get one more acknowledgement now; if so it is counted. Call it in the
    transaction that writes the acknowledgement, so the count and the mail agree."""
    sender = sender.lower()
    await MailAck.filter(sender=sender, sent_at__lte=now - ACK_WINDOW).delete()  # no longer counts
    earlier = await MailAck.filter(sender=sender).values_list("sent_at", flat=True)
    if not ack_allowed(earlier, now):
        return False
    await MailAck.create(sender=sender, sent_at=now)
    return True
