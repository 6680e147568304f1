"""Sending within a messenger's published rate limits, shared by every channel's courier side.

A channel reserves a slot per chat before it sends; the outbox asks which of its lanes (`outbox.lane`) are
still in a chat's pause (`busy_lanes`), so it does not hand the channel rows that would only wait."""

from __future__ import annotations

import asyncio
import time

FORGET_AFTER = 10000  # chats (and lanes) remembered before those whose pause is over are forgotten


class Pacer:
    """Telegram's published limits by default: about 30 messages a second overall, 1 a second per chat,
    20 a minute per group (other channels pass their own). Measured on the monotonic clock: pacing is not
    SLA time."""

    def __init__(self, per_second: float = 30, private_gap: float = 1.0, group_gap: float = 3.0,
                 monotonic=time.monotonic) -> None:
        self.monotonic = monotonic
        self.global_gap = 1 / per_second
        self.private_gap, self.group_gap = private_gap, group_gap
        self.next_global = 0.0
        self.hold = 0.0  # after a 429, nothing leaves before this
        self.next_chat: dict[int, float] = {}
        self.lanes: dict[str, int] = {}  # an outbox lane → the chat it is paced as

    def busy(self) -> set[int]:
        now = self.monotonic()
        return {chat for chat, at in self.next_chat.items() if at > now}

    def busy_lanes(self) -> set[str]:
        busy = self.busy()
        return {lane for lane, chat in self.lanes.items() if chat in busy}

    def reserve(self, chat_id: int, lane: str | None = None) -> float:
        """The next moment a message to this chat may leave, taken now: reservations made one after
        another keep the limits even when the messages are then sent side by side. `lane`: the outbox
        lane the message is in, for `busy_lanes`."""
        slot = max(self.monotonic(), self.next_global, self.next_chat.get(chat_id, 0.0))
        self.next_global = slot + self.global_gap
        self.next_chat[chat_id] = slot + (self.private_gap if chat_id > 0 else self.group_gap)
        if lane is not None:
            self.lanes[lane] = chat_id
        if len(self.next_chat) > FORGET_AFTER or len(self.lanes) > FORGET_AFTER:  # forget chats whose pause is over
            busy = self.busy()
            self.next_chat = {chat: at for chat, at in self.next_chat.items() if chat in busy}
            self.lanes = {key: chat for key, chat in self.lanes.items() if chat in busy}
        return slot

    async def until(self, slot: float) -> None:
        """Sleep until the slot, or until a 429's pause is over if one came meanwhile: the messages of a
        round reserved their slots before the messenger asked everyone to wait."""
        delay = max(slot, self.hold) - self.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def pause(self, chat_id: int, seconds: float) -> None:
        until = self.monotonic() + seconds
        self.next_chat[chat_id] = max(self.next_chat.get(chat_id, 0.0), until)
        self.next_global = max(self.next_global, until)
        self.hold = max(self.hold, until)
