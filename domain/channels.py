"""The Channel protocol: how the desk's owed notices leave it, one implementation per way in.

The outbox holds what is owed (`domain.outbox`); the courier in `scheduler/` claims due rows and hands each
to the channel its row names. A channel renders the row in its reader's language at that moment (the
person's or the chat's, `domain.lang`), sends it, paces itself within its own limits, and says of a
refusal whether it is worth trying again. Nothing above a channel builds its texts, buttons or headers.

A new channel is a class with these members, registered once by the composition root (`bot/`):
`channels.register(MyChannel(...))`; rows written with `Recipient(channel=MyChannel.name, …)` go to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from domain.models import Outbox


@dataclass(frozen=True)
class Delivered:
    """What a channel sent: its own reference of the (last) message (a Telegram message id as text, a mail's
    Message-ID; kept in the row, `Outbox.sent_ref`), and the text, for the incident's record."""

    ref: str | None
    text: str


@dataclass(frozen=True)
class Retry:
    """A transient refusal (the network, the server, a rate limit): send the row again after `delay` seconds
    (0: at once), with `changes` to its columns first (a chat that moved, a photo the chat refuses)."""

    reason: str
    delay: float
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unreachable:
    """The recipient cannot be written to on this channel (blocked, removed): the row fails, the person or
    chat is marked so, and what the desk owes them goes to the fallback (the staff chat and the leads)."""

    reason: str


@dataclass(frozen=True)
class Failed:
    """A permanent refusal of this row alone (too large, malformed): it fails, logged; nothing reroutes."""

    reason: str


Verdict = Retry | Unreachable | Failed


@runtime_checkable
class Channel(Protocol):
    name: str  # what rows name in `Outbox.channel`

    async def reserve(self, row: Outbox) -> float:
        """The moment (on the channel's own monotonic clock) the row may leave, taken now and in claim
        order, within the channel's rate limits."""

    async def until(self, slot: float) -> None:
        """Wait for a reserved moment (or longer, when the channel was told to hold back meanwhile)."""

    def busy(self) -> set[str]:
        """The lanes (`domain.outbox.lane`) that must wait now: their rows are not claimed this round."""

    async def send(self, row: Outbox) -> Delivered:
        """Render the row for its recipient in their language now and send it. A part of a long text that
        went out is written off the row (`domain.outbox.part_sent`) before the next is sent. Raises what
        the channel's library raises; `classify` judges it."""

    async def classify(self, row: Outbox, error: BaseException) -> Verdict | None:
        """Whether a refusal is transient or permanent (None: not the channel's error; the round fails)."""

    async def record(self, row: Outbox, delivered: Delivered) -> None:
        """Remember what was sent where, so that an answer to it threads into the incident. Called in the
        transaction that marks the row sent."""


class Channels:
    """The configured channels by name: the composition root registers them, the courier looks them up."""

    def __init__(self, *channels: Channel) -> None:
        self._by_name: dict[str, Channel] = {}
        for channel in channels:
            self.register(channel)

    def register(self, channel: Channel) -> None:
        if channel.name in self._by_name:
            raise ValueError(f"channel {channel.name!r} is registered twice")
        self._by_name[channel.name] = channel

    def get(self, name: str) -> Channel | None:
        return self._by_name.get(name)

    def __iter__(self):
        return iter(self._by_name.values())
