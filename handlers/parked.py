"""Parked updates for the leads: the notice that one was parked, /parked, /replay ID and /dismiss ID.

`Parking` is what the polling and webhook runners call to park an update; the rules are in
`domain.parked`. Replaying feeds the stored update through the dispatcher again, with the same update
id: what its first attempts owed is not owed twice (dedupe keys derive from the update id).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.filters import CommandObject
from aiogram.types import Message, Update

import telemetry
from domain import alerts, outbox, parked, people
from domain.errors import DeskError, Named
from domain.models import ParkedUpdate
from handlers.args import cmd, looks_like_command, split
from handlers.desk import Desk
from handlers.replies import respond
from locales import format as fmt
from locales import t

log = logging.getLogger(__name__)
PREVIEW = 120


def chat_of(update: dict[str, Any]) -> int | None:
    """The chat an update (as Telegram sent it) belongs to, if it can be found: for the leads' notice."""
    for value in update.values():
        if isinstance(value, dict):
            message = value.get("message") if isinstance(value.get("message"), dict) else value
            chat = message.get("chat")
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return chat["id"]
    return None


def preview(payload: str) -> str:
    """What the update says, in short: its text or caption, else its kind."""
    try:
        update = json.loads(payload)
    except ValueError:
        return payload[:PREVIEW]
    for kind, value in update.items():
        if isinstance(value, dict):
            text = value.get("text") or value.get("caption") or value.get("data")
            return (f"{kind}: {text}" if isinstance(text, str) else kind)[:PREVIEW]
    return "—"


class Parking:
    """Parks updates and owes each lead one notice per parked update."""

    def __init__(self, settings: Any, clock: Any) -> None:
        self.settings, self.clock = settings, clock

    async def park(self, update: dict[str, Any], reason: str, error: str) -> ParkedUpdate:
        update_id = update.get("update_id") if isinstance(update.get("update_id"), int) else None
        row, new = await parked.park(json.dumps(update, ensure_ascii=False), update_id=update_id,
                                     chat_id=chat_of(update), reason=reason, error=error, now=self.clock.now(),
                                     tell=self._tell)
        if not new:
            return row
        telemetry.PARKED.labels(reason).inc()
        log.error("update %s parked (%s) as #%s: %s", update_id, reason, row.id, error.splitlines()[0][:300])
        return row

    async def _tell(self, row: ParkedUpdate) -> None:
        say = outbox.say("liveness.parked_notice", id=row.id, update=row.update_id or "—",
                         reason=outbox.word(f"liveness.reason_{row.reason}"), chat=row.chat_id or "—",
                         preview=preview(row.payload), error=row.error.splitlines()[0][:300] if row.error else "—")
        for lead_id in await alerts.leads(self.settings.lead_ids):
            await outbox.enqueue("notice", outbox.person(lead_id), row.parked_at, params=say,
                                 dedupe=f"parked:{row.id}:{lead_id}")


async def list_parked(message: Message, desk: Desk) -> None:
    lang = desk.lang
    rows = await parked.waiting()
    if not rows:
        await respond(message, t(lang, "liveness.none"))
        return
    lines = [t(lang, "liveness.header", count=len(rows))]
    for row in rows:
        lines.append(t(lang, "liveness.line", id=row.id, update=row.update_id or "—",
                       reason=t(lang, f"liveness.reason_{row.reason}"),
                       at=fmt.when(lang, row.parked_at, desk.settings.timezone, desk.now()),
                       chat=t(lang, "unbind2.parked_chat", channel=Named("desk.channel", row.channel),
                              chat=row.chat_id or "—"),  # a MAX chat's id may be a Telegram chat's too
                       preview=preview(row.payload),
                       error=row.error.splitlines()[0][:200] if row.error else "—"))
    lines.append(t(lang, "liveness.hint"))
    await respond(message, "\n".join(lines))


def _row_id(command: CommandObject) -> int:
    (word,) = split(command, 1, 1)
    if not word.lstrip("#").isdigit():
        raise DeskError(f"usage.{command.command.lower()}")
    return int(word.lstrip("#"))


async def replay(message: Message, command: CommandObject, actor: people.Actor, desk: Desk, bot: Bot,
                 dispatcher: Dispatcher) -> None:
    lang = desk.lang
    row = await parked.take_for_replay(_row_id(command))
    try:
        update = Update.model_validate(json.loads(row.payload), context={"bot": bot})
        await dispatcher.feed_update(bot, update)
    except Exception as exc:  # still failing (or still unreadable): it stays parked, the lead sees why
        error = f"{type(exc).__name__}: {exc}"
        await parked.replay_failed(row, error)
        log.warning("replay of parked update #%s failed: %s", row.id, error.splitlines()[0][:300])
        await respond(message, t(lang, "liveness.replay_failed", id=row.id, error=error.splitlines()[0][:300]))
        return
    await parked.replayed(row, actor.user_id, desk.now())
    log.info("parked update #%s (update %s) replayed by %s", row.id, row.update_id, actor.user_id)
    await respond(message, t(lang, "liveness.replayed", id=row.id))


async def dismiss(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    row = await parked.dismiss(_row_id(command), actor.user_id, desk.now())
    log.info("parked update #%s (update %s) dismissed by %s", row.id, row.update_id, actor.user_id)
    await respond(message, t(lang, "liveness.dismissed", id=row.id))


def build_router() -> Router:
    router = Router(name="parked")
    router.message.filter(looks_like_command)
    router.message.register(list_parked, cmd("parked"))
    router.message.register(replay, cmd("replay"))
    router.message.register(dismiss, cmd("dismiss"))
    return router
