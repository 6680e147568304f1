"""One-time invitation tokens: 192 random bits, single use, 7 days; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import DeskError, Named
from domain.models import Conversation, Customer, Invitation

VALID_FOR = timedelta(days=7)
LINK = "link"  # a staff member's code to link their account on another channel; `role` names the channel
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Every code `create` makes is this long, of the URL-safe alphabet: any run of that alphabet this long or longer may
# hold one, whatever is glued to it (`%3D` of a percent-encoded link, markdown's `__`, a `-`).
CODE_LENGTH = 32
_RUN = re.compile(rf"[A-Za-z0-9_-]{{{CODE_LENGTH},}}")
# What a burnt code becomes in the text the desk keeps (an incident's message, the unbound inbox).
MASK = "[•••]"
# A message with fewer words than this beside its codes is a paste of the code, not a problem report.
REPORT_WORDS = 3
_WORDS = re.compile(r"\w+")


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


def may_show_code(text: str) -> bool:
    """Whether a text holds a run of the code alphabet long enough to be a code (no query): a text that
    cannot show one needs no look (`burn_shown`)."""
    return _RUN.search(text or "") is not None


async def _live_in(text: str, now: datetime) -> tuple[list[Invitation], list[tuple[int, int]]]:
    """The live invitations a text shows, and where (spans of the text). Every window of `CODE_LENGTH` characters of
    every run of the code alphabet is looked at, so nothing is skipped however long the text (a cost bounded by its
    length, which every channel caps); one query, and none for a text with no such run (most messages)."""
    runs = [run for run in _RUN.finditer(text or "")]
    if not runs:
        return [], []
    live = dict(await Invitation.filter(used_at__isnull=True, expires_at__gt=now).values_list("token_hash", "id"))
    if not live:
        return [], []
    found: dict[int, None] = {}
    spans: list[tuple[int, int]] = []
    for run in runs:
        word, start = run[0], run.start()
        for offset in range(len(word) - CODE_LENGTH + 1):
            invitation_id = live.get(_hash(word[offset:offset + CODE_LENGTH]))
            if invitation_id is not None:
                found[invitation_id] = None
                spans.append((start + offset, start + offset + CODE_LENGTH))
    if not found:
        return [], []
    return list(await Invitation.filter(id__in=list(found)).order_by("id")), spans


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    parts, at = [], 0
    for start, end in sorted(spans):
        if end <= at:
            continue
        parts.append(text[at:max(start, at)])
        parts.append(MASK)
        at = end
    return "".join(parts) + text[at:]


def _words_beside(text: str, spans: list[tuple[int, int]]) -> int:
    """How many words a person wrote beside the codes: any whitespace-separated piece holding a code (a link to it,
    `__code__`) is the code's."""
    count = 0
    for piece in re.finditer(r"\S+", text):
        if not any(start < piece.end() and piece.start() < end for start, end in spans):
            count += len(_WORDS.findall(piece[0]))
    return count


async def holds_live_code(text: str, now: datetime) -> bool:
    """Whether a text the desk is about to show a customer (a staff member's answer) holds a live code."""
    invitations, _ = await _live_in(text, now)
    return bool(invitations)


async def refuse_live_code(text: str, now: datetime, refusal: str, /, **params: object) -> None:
    """The one rule for every staff text the desk would show customers (a /reply answer, a /resolve summary, an
    /announce text): one holding a live code is a paste into the wrong window, refused whole (`refusal`, a
    catalog key, tells the author), never sent, so the code stays theirs and nothing else changes."""
    if await holds_live_code(text, now):
        raise DeskError(refusal, **params)


@dataclass(frozen=True)
class Shown:
    """What `burn_shown` found in a text."""

    text: str  # the text with every live code masked: what the desk may keep of it
    burnt: int  # how many codes it used up here (none: no code, or each redeemed by someone at this very moment)
    found: bool  # whether the text showed any live code at all
    report: bool  # whether a person wrote more than the code: a report, taken in with the code masked

    @property
    def only_codes(self) -> bool:
        return self.found and not self.report


async def burn_shown(text: str, conversation: Conversation | None, shown_by: int | None, now: datetime,
                     place: str = "") -> Shown:
    """Live codes in a text the desk saw where others read it (a customer's chat room, Telegram group, mail, or a
    chat bound to nobody: `conversation` None, `place` names it), where everyone there has read them: a staff
    invitation would make any reader staff, another customer's code would bind a reader's chat to that customer.
    Each is used up here, kept as burnt where it was seen and by whom, and the lead who made it is told (through
    the outbox, in their language) to make a new one. The one rule for every channel's inbound text: the caller
    keeps only `Shown.text` (codes masked), tells the conversation, never repeating the code."""
    from domain import outbox  # here: the outbox's imports lead back to this module (people → invitations)

    invitations, spans = await _live_in(text, now)
    if not invitations:
        return Shown(text, 0, False, False)
    where_seen = (conversation.title or conversation.ref) if conversation is not None else place
    burnt = 0
    for invitation in invitations:
        # Conditional, as `redeem` is: a code someone redeems at this very moment is theirs, not burnt twice.
        if not await Invitation.filter(id=invitation.id, used_at__isnull=True).update(
                used_at=now, used_by=shown_by, used_conversation_id=conversation.id if conversation else None,
                burnt_at=now):
            continue
        burnt += 1
        # Where the code was for: a link code's channel is its role, a staff invitation's is Telegram's.
        where = invitation.role if invitation.kind == LINK else invitation.kind
        where = "telegram" if where in ("staff", "chat") else where
        told = "burn.lead_told" if conversation is not None else "burn2.lead_told_unbound"
        await outbox.enqueue("notice", outbox.person(invitation.created_by), now, dedupe=f"burnt:{invitation.id}",
                             params=outbox.say(told, what=outbox.word(f"burn.what.{invitation.kind}"),
                                               channel=outbox.named("desk.channel", where or ""),
                                               chat=where_seen, made=outbox.day(invitation.created_at.date())))
    return Shown(_masked(text, spans), burnt, True, _words_beside(text, spans) >= REPORT_WORDS)
