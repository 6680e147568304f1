"""The unbound inbox: messages from conversations bound to no customer are kept, never dropped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from domain.identities import conversation_of, normalize_ref
from domain.models import UnboundConversation, UnboundMessage
from domain.retention import Retention, cap_unbound_chat

NOTICE_EVERY = timedelta(hours=1)
UNBOUND_PER_CHAT = Retention.unbound_per_chat


@dataclass(frozen=True)
class IncomingMessage:
    """A customer-side message as the desk keeps it, in any channel's terms: addresses and references are
    the channel's own, as strings; the author is a person id (resolved through their identity)."""

    channel: str
    conversation: str  # the conversation's address on the channel (`Conversation.ref`)
    ref: str  # the message's own reference on the channel
    person_id: int | None
    author: str
    text: str
    attachments: list[dict[str, str]]
    sent_at: datetime
    title: str = ""  # the conversation's title
    reply_to: str | None = None  # the reference of the message this one answers
    topic: str | None = None  # a sub-thread of the conversation (a Telegram forum topic)


async def keep_unbound(msg: IncomingMessage, now: datetime, keep: int = UNBOUND_PER_CHAT) -> bool:
    """Store the message, keeping the conversation's newest `keep`; True when it is due its hourly "not
    connected yet" answer."""
    async with in_transaction():
        conversation, _ = await UnboundConversation.get_or_create(
            channel=msg.channel, ref=normalize_ref(msg.channel, msg.conversation),
            defaults={"title": msg.title[:256], "first_seen": now},
        )
        try:
            await UnboundMessage.create(
                conversation=conversation, ref=msg.ref, person_id=msg.person_id, author=msg.author[:256],
                text=msg.text, attachments=msg.attachments, received_at=msg.sent_at,
            )
        except IntegrityError:
            return False  # the same message seen twice
        # A stranger can flood a group the bot was added to: the conversation keeps only its newest messages.
        await cap_unbound_chat(conversation.id, keep)
        # Claim the notice with a conditional update so two workers never both answer.
        due = UnboundConversation.filter(id=conversation.id)
        claimed = await due.filter(last_notice_at__isnull=True).update(last_notice_at=now)
        if not claimed:
            claimed = await due.filter(last_notice_at__lte=now - NOTICE_EVERY).update(last_notice_at=now)
        return bool(claimed)


@dataclass(frozen=True)
class UnboundView:
    chat: UnboundConversation
    messages: list[UnboundMessage]
    total: int
    bound_to: str | None  # the customer code when the conversation has been bound since


async def unbound_inbox(per_chat: int = 5, chats: int = 20, listed: int = 200) -> list[UnboundView]:
    """The newest `chats` conversations (one per chat, or per sender of mail) with their newest messages,
    then up to `listed` more by name and count only: mail from strangers costs nothing to send, so a
    wave of spam senders must not push a real stranger's mail out of the lead's sight."""
    views = []
    for n, chat in enumerate(await UnboundConversation.all().order_by("-first_seen", "-id").limit(chats + listed)):
        messages = [] if n >= chats else await UnboundMessage.filter(conversation_id=chat.id).order_by(
            "-received_at").limit(per_chat)
        total = await UnboundMessage.filter(conversation_id=chat.id).count()
        bound = await conversation_of(chat.channel, chat.ref)
        views.append(UnboundView(chat, list(reversed(messages)), total, bound.customer.code if bound else None))
    return views


async def waiting_in(channel: str, ref: str) -> int:
    """Messages a conversation wrote before it was bound, still in the unbound inbox."""
    return await UnboundMessage.filter(conversation__channel=channel,
                                       conversation__ref=normalize_ref(channel, ref)).count()
