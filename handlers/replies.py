"""Sending answers to the update in hand: replies in groups, plain answers in private, split to fit."""

from __future__ import annotations

from aiogram.types import Message

LIMIT = 4000  # Telegram allows 4096 characters; keep a margin


def chunks(text: str, limit: int = LIMIT) -> list[str]:
    """Split at line breaks so a long list arrives as several whole messages."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts


async def respond(message: Message, text: str, **kwargs) -> Message:
    """Answer in the same chat (and forum topic), replying to the message in groups.

    A keyboard, if any, goes with the last part.
    """
    parts = chunks(text)
    markup = kwargs.pop("reply_markup", None)
    send = message.answer if message.chat.type == "private" else message.reply
    sent = None
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        sent = await send(part, reply_markup=markup if last else None, **kwargs)
    return sent

