"""The unbound inbox: messages from groups bound to no customer are kept, never dropped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from domain.models import CustomerChat, UnboundChat, UnboundMessage
from domain.retention import Retention, cap_unbound_chat

NOTICE_EVERY = timedelta(hours=1)
UNBOUND_PER_CHAT = Retention.unbound_per_chat


@dataclass(frozen=True)
class IncomingMessage:
    """A customer-side message as the desk keeps it, independent of Telegram's types."""

    chat_id: int
    message_id: int
    user_id: int | None
    author: str
    text: str
    attachments: list[dict[str, str]]
    sent_at: datetime
    chat_title: str = ""
    reply_to: int | None = None
    thread_id: int | None = None


async def keep_unbound(msg: IncomingMessage, now: datetime, keep: int = UNBOUND_PER_CHAT) -> bool:
    """Store the message, keeping the chat's newest `keep`; True when the chat is due its hourly "not
    connected yet" answer."""
    async with in_transaction():
        await UnboundChat.get_or_create(
            chat_id=msg.chat_id, defaults={"title": msg.chat_title[:256], "first_seen": now}
        )
        try:
            await UnboundMessage.create(
                chat_id=msg.chat_id, message_id=msg.message_id, user_id=msg.user_id, author=msg.author[:256],
                text=msg.text, attachments=msg.attachments, received_at=msg.sent_at,
            )
        except IntegrityError:
            return False  # the same message seen twice
        # A stranger can flood a group the bot was added to: the chat keeps only its newest messages.
        await cap_unbound_chat(msg.chat_id, keep)
        # Claim the notice with a conditional update so two workers never both answer.
        due = UnboundChat.filter(chat_id=msg.chat_id).filter(last_notice_at__isnull=True)
        claimed = await due.update(last_notice_at=now)
        if not claimed:
            claimed = await UnboundChat.filter(
                chat_id=msg.chat_id, last_notice_at__lte=now - NOTICE_EVERY
            ).update(last_notice_at=now)
        return bool(claimed)


@dataclass(frozen=True)
class UnboundView:
    chat: UnboundChat
    messages: list[UnboundMessage]
    total: int
    bound_to: str | None  # the customer code when the chat has been bound since


async def unbound_inbox(per_chat: int = 5, chats: int = 20) -> list[UnboundView]:
    views = []
    for chat in await UnboundChat.all().order_by("-first_seen").limit(chats):
        messages = await UnboundMessage.filter(chat_id=chat.chat_id).order_by("-received_at").limit(per_chat)
        total = await UnboundMessage.filter(chat_id=chat.chat_id).count()
        bound = await CustomerChat.get_or_none(chat_id=chat.chat_id).select_related("customer")
        views.append(UnboundView(chat, list(reversed(messages)), total, bound.customer.code if bound else None))
    return views


async def waiting_in(chat_id: int) -> int:
    """Messages a chat wrote before it was bound, still in the unbound inbox."""
    return await UnboundMessage.filter(chat_id=chat_id).count()
