"""Outbox rows with finished text, as rows written before the intents (migration 0012) are kept: the
courier's mechanics (retries, parts, photos, fallbacks, pacing) are tested with words the test chose."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from domain import outbox
from domain.models import Conversation


async def to(chat_id: int) -> outbox.Recipient:
    """A positive id is a person (their private chat), a negative one a group: a customer's conversation
    when it is one, else a chat by its id (as the staff chat is addressed)."""
    if chat_id > 0:
        return outbox.person(chat_id)
    conversation = await Conversation.get_or_none(channel=outbox.TELEGRAM, ref=str(chat_id))
    return outbox.conversation(conversation) if conversation else outbox.chat(chat_id)


async def owe_text(chat_id: int, text: str, now: datetime, *, kind: str, rank: int = outbox.RANK_NOTICE,
                   markup: dict[str, Any] | None = None, reply_to: int | None = None, photo: bytes | None = None,
                   thread_id: int | None = None, **rest: Any) -> None:
    params: dict[str, Any] = {"text": text}
    if markup:
        params["markup"] = markup
    if reply_to is not None:
        params["reply_to"] = reply_to
    if photo is not None:
        params["photo"] = base64.b64encode(photo).decode()
    if thread_id is not None:
        params["topic"] = thread_id
    await outbox.enqueue(kind, await to(chat_id), now, params=params, rank=rank, **rest)


def courier(desk, pacer, settings=None):
    """A courier of its own (another instance, or other settings) with the desk's bot and clock."""
    from bot.app import build_channels
    from scheduler.courier import Courier
    settings = settings or desk.settings
    return Courier(build_channels(desk.bot, settings, desk.clock, pacer), desk.clock, settings)


def pacer_of(courier_) -> object:
    return courier_.channels.get(outbox.TELEGRAM).pacer
