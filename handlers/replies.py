"""Sending answers to the update in hand: replies in groups, plain answers in private, split to fit."""

from __future__ import annotations

from aiogram.types import Message

from domain.text import TEXT_LIMIT, split


def chunks(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split at line breaks so a long list arrives as several whole messages."""
    return split(text, limit)


async def respond(message: Message, text: str, **kwargs) -> Message:
    """Answer in the same chat (and forum topic), replying to the message in groups.

    A text over Telegram's limit goes as several messages; a keyboard, if any, goes with the last part.
    A message deleted before the answer still gets it, as a plain message: "message to be replied not
    found" would end the update with nothing said.
    """
    parts = chunks(text)
    markup = kwargs.pop("reply_markup", None)
    if message.chat.type != "private":
        kwargs.setdefault("reply_parameters", message.as_reply_parameters(allow_sending_without_reply=True))
    sent = None
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        sent = await message.answer(part, reply_markup=markup if last else None, **kwargs)
    return sent
