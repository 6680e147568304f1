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
# Any word of a text that could be a token (bare, in a link's `?start=`, after `/start`), and how many of a
# text's words are looked up at most (one query: a long log pasted by a customer costs no more).
_WORD = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{16,64}(?![A-Za-z0-9_-])")
_LOOKED_UP = 64


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


async def _live_in(text: str, now: datetime) -> list[Invitation]:
    words = list(dict.fromkeys(_WORD.findall(text or "")))[:_LOOKED_UP]
    if not words:
        return []
    return await Invitation.filter(token_hash__in=[_hash(word) for word in words], used_at__isnull=True,
                                   expires_at__gt=now)


async def holds_live_code(text: str, now: datetime) -> bool:
    """Whether a text the desk is about to show a customer (a staff member's answer) holds a live code."""
    return bool(await _live_in(text, now))


async def refuse_live_code(text: str, now: datetime, refusal: str, /, **params: object) -> None:
    """The one rule for every staff text the desk would show customers (a /reply answer, a /resolve summary, an
    /announce text): one holding a live code is a paste into the wrong window, refused whole (`refusal`, a
    catalog key, tells the author), never sent, so the code stays theirs and nothing else changes."""
    if await holds_live_code(text, now):
        raise DeskError(refusal, **params)


async def burn_shown(text: str, conversation: Conversation, shown_by: int | None, now: datetime) -> int:
    """Live codes in a text the desk saw in a customer's conversation (their chat room, Telegram group, mail),
    where everyone there has read them: a staff invitation would make any reader staff, another customer's
    code would bind a reader's chat to that customer. Each is used up here, kept as burnt where it was seen
    and by whom, and the lead who made it is told (through the outbox, in their language) to make a new one.
    How many were burnt: the caller tells the conversation so, never repeating the code."""
    from domain import outbox  # here: the outbox's imports lead back to this module (people → invitations)

    burnt = 0
    for invitation in await _live_in(text, now):
        # Conditional, as `redeem` is: a code someone redeems at this very moment is theirs, not burnt twice.
        if not await Invitation.filter(id=invitation.id, used_at__isnull=True).update(
                used_at=now, used_by=shown_by, used_conversation_id=conversation.id, burnt_at=now):
            continue
        burnt += 1
        # Where the code was for: a link code's channel is its role, a staff invitation's is Telegram's.
        where = invitation.role if invitation.kind == LINK else invitation.kind
        where = "telegram" if where in ("staff", "chat") else where
        await outbox.enqueue("notice", outbox.person(invitation.created_by), now, dedupe=f"burnt:{invitation.id}",
                             params=outbox.say("burn.lead_told", what=outbox.word(f"burn.what.{invitation.kind}"),
                                               channel=outbox.named("desk.channel", where or ""),
                                               chat=conversation.title or conversation.ref,
                                               made=outbox.day(invitation.created_at.date())))
    return burnt
