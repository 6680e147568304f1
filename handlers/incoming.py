"""Turning a Telegram message into the desk's `IncomingMessage` (text or caption, and attachments)."""

from __future__ import annotations

from datetime import datetime

from aiogram.types import Message

from domain.identities import TELEGRAM
from domain.inbox import IncomingMessage
from domain.text import clean, has_words, shown

ATTACHMENT_KINDS = ("document", "video", "voice", "audio", "sticker", "video_note", "animation")
# What a person writes. Everything else aiogram knows (joins and leaves, a new title, a pinned message, a
# topic created, a video chat started…) is a service message: it opens no incident and fills no inbox. A
# kind newer than aiogram ("unknown") counts as written: a lost customer message is worse than a stray one.
WRITTEN = frozenset({
    "text", "animation", "audio", "document", "live_photo", "paid_media", "photo", "sticker", "story", "video",
    "video_note", "voice", "checklist", "contact", "dice", "poll", "venue", "location", "rich_message", "unknown",
})


def shared_of(message: Message) -> str:
    """What a contact card, a venue or a location says, as text: the phone number or the place is the
    customer's message (written in no language, so every reader reads it the same)."""
    if message.contact:
        person = " ".join(p for p in (message.contact.first_name, message.contact.last_name) if p)
        return f"📇 {person} {message.contact.phone_number}".strip()
    if message.venue:
        place = message.venue.location
        return f"📍 {message.venue.title}, {message.venue.address} ({place.latitude:.6f}, {place.longitude:.6f})"
    if message.location:
        return f"📍 {message.location.latitude:.6f}, {message.location.longitude:.6f}"
    return ""


def is_service(message: Message) -> bool:
    """Nothing a person wrote to support: a service message, or a text of nothing visible (a zero-width
    space), which would otherwise open an incident and page on-call with an empty title."""
    if message.content_type not in WRITTEN:
        return True
    return message.content_type == "text" and not has_words(message.text or "")


def attachments_of(message: Message) -> list[dict[str, str]]:
    found = []
    if message.photo:
        found.append({"kind": "photo", "file_id": message.photo[-1].file_id})  # the largest size
    for kind in ATTACHMENT_KINDS:
        item = getattr(message, kind, None)
        if item is not None and not (kind == "document" and message.animation):
            found.append({"kind": kind, "file_id": item.file_id})
    return found


def incoming(message: Message, now: datetime, person_id: int | None) -> IncomingMessage:
    """The message in the desk's terms: Telegram's chat and message ids become the channel's refs;
    `person_id` is the author as the middleware resolved them (through their Telegram identity)."""
    if message.sender_chat is not None:  # an anonymous admin or a channel: the chat is the author
        author = message.sender_chat.title or ""
    else:
        author = message.from_user.full_name if message.from_user else message.chat.title or ""
    reply = message.reply_to_message
    return IncomingMessage(
        channel=TELEGRAM,
        conversation=str(message.chat.id),
        ref=str(message.message_id),
        person_id=person_id,
        author=shown(author),
        text=clean(message.text or message.caption or shared_of(message)),
        attachments=attachments_of(message),
        sent_at=message.date or now,
        title=shown(message.chat.title or message.chat.full_name or ""),
        reply_to=str(reply.message_id) if reply else None,
        topic=str(message.message_thread_id) if message.is_topic_message and message.message_thread_id else None,
    )
