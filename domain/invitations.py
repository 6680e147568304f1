"""One-time invitation tokens: 192 random bits, single use, 7 days; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from domain.errors import DeskError, Named
from domain.models import Conversation, Customer, Invitation

VALID_FOR = timedelta(days=7)
LINK = "link"  # a staff member's code to link their account on another channel; `role` names the channel
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(payload: str) -> bool:
    return bool(_TOKEN.match(payload))


async def create(kind: str, created_by: int, now: datetime, *, role: str | None = None,
                 customer: Customer | None = None) -> str:
    token = secrets.token_urlsafe(24)  # 32 characters, fits Telegram's 64-character start payload
    await Invitation.create(
        token_hash=_hash(token), kind=kind, role=role, customer=customer,
        created_by=created_by, created_at=now, expires_at=now + VALID_FOR,
    )
    return token


async def redeem(token: str, kind: str, user_id: int, now: datetime) -> Invitation:
    """Mark the invitation used by this person, or say why it cannot be.

    The conditional UPDATE makes the use single even when two people press the link at once.
    Call inside a transaction together with what the invitation grants.
    """
    invitation = await Invitation.get_or_none(token_hash=_hash(token)).select_related("customer")
    if invitation is None:
        raise DeskError("err.invite_unknown")
    if invitation.kind != kind:
        if invitation.kind in ("staff", "chat"):
            raise DeskError("err.invite_wrong_place_" + invitation.kind)
        # A code for a chat on another channel (eXpress, MAX), or a staff member's link to their account
        # there (its channel in `role`): it is sent on that channel.
        channel = invitation.role if invitation.kind == LINK else invitation.kind
        raise DeskError("chatroom.wrong_place", channel=Named("desk.channel", channel or ""))
    if invitation.used_at is not None:
        raise DeskError("err.invite_used")
    if invitation.expires_at <= now:
        raise DeskError("err.invite_expired")
    claimed = await Invitation.filter(id=invitation.id, used_at__isnull=True).update(
        used_at=now, used_by=user_id
    )
    if not claimed:
        raise DeskError("err.invite_used")
    return invitation



async def used_in(invitation: Invitation, conversation: Conversation) -> None:
    """The conversation a chat invitation bound."""
    await Invitation.filter(id=invitation.id).update(used_conversation_id=conversation.id)


async def kind_of(token: str) -> str | None:
    """What an invitation is for (None: no such invitation), before anyone redeems it."""
    return await Invitation.filter(token_hash=_hash(token)).first().values_list("kind", flat=True)
