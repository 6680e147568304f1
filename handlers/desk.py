"""The desk context every handler gets in one piece (beside the acting person), instead of each value
injected on its own.

The bot's one `Desk` holds what lives as long as the bot: the clock, the settings, the SLA, what a new
incident owes, the outbox's wake-up and the chat-reachability notice. For each message or button press
`handlers.middlewares` hands the handler a copy that also says where the update stands: the language of
the answer, the chat an incident command is confined to, the update's id and its log trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
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
    # What owes the leads a notice when a customer chat becomes (un)reachable (`scheduler.courier.chat_notice`).
    chat_notice: Callable[..., Any]
    # The running outbox's wake-up, set when it starts; until then (and in tests) it does nothing.
    wake_outbox: Callable[[], None] = field(default=_nothing)
    # ---- this update's (the bot's own Desk leaves them empty) ----
    lang: str = ""  # the answer's language (`handlers.middlewares.reply_lang`)
    # Where others than staff read the answers (a customer's chat, any other group), incident commands may
    # name only this chat's incidents; None in a private chat and the staff chat.
    only_chat: int | None = None
    update_id: int | None = None  # what owed notices are keyed by, so a retried update owes nothing twice
    trace: dict[str, Any] = field(default_factory=dict)  # what the update's log line names (its incident)

    def for_update(self, lang: str, only_chat: int | None, update_id: int | None,
                   trace: dict[str, Any] | None) -> Desk:
        return replace(self, lang=lang, only_chat=only_chat, update_id=update_id,
                       trace=trace if trace is not None else {})

    def now(self) -> datetime:
        return self.clock.now()
