"""The desk context every handler gets in one piece, instead of each value injected on its own.

It holds what lives as long as the bot: the clock, the settings, the SLA, what a new incident owes, the
outbox's wake-up and the chat-reachability notice. What belongs to one update (the acting person, the
reply language, the chat scope, the update id) comes beside it from `handlers.middlewares`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.clock import Clock
from domain.intake import OnCreated
from domain.sla import Sla


def _nothing() -> None:
    return None


@dataclass
class Desk:
    clock: Clock
    settings: Any  # bot.settings.Settings (handlers do not import the composition root)
    sla: Sla
    on_created: OnCreated
    # What owes the leads a notice when a customer chat becomes (un)reachable (`scheduler.dispatcher.chat_notice`).
    chat_notice: Callable[..., Any]
    # The running outbox's wake-up, set when it starts; until then (and in tests) it does nothing.
    wake_outbox: Callable[[], None] = field(default=_nothing)

    def now(self) -> datetime:
        return self.clock.now()
