"""The courier: sends what the outbox owes through the channel each row names, and never loses a row.

It knows no channel: it claims due rows (pings first, one at a time per recipient, leaving out those the
channels' pacing holds back), hands each to its channel (`domain.channels`), and acts on the channel's
verdict of a refusal:

* transient (network, server, rate limit): the row is owed again after the channel's delay;
* the recipient cannot be reached: a person is marked as unable to receive DMs (`/staff` shows it) and a
  ping goes to the staff chat and the leads instead; a customer chat is marked unreachable (the leads are
  told once), its notices go to the staff chat and the leads, and later ones fail fast without a call
  until the channel is given another try;
* permanent for the row: it fails, logged;
* a notice whose point is gone (a reminder answered in the meantime, staff eyes for someone who left, a
  chat bound to another customer now) is dropped, not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

import telemetry
from domain import alerts, customers, outbox, people
from domain.channels import Channels, Failed, Retry, Unreachable
from domain.clock import Clock
from domain.identities import TELEGRAM
from domain.models import Conversation, Incident, Outbox

log = logging.getLogger(__name__)


def chat_notice(settings, reachable: bool, now: datetime) -> customers.Tell:
    """The leads' notice that the bot lost (or got back) a customer chat, each in their language. Owed by
    the courier on a refused send and by the `my_chat_member` handler (the composition root passes it)."""
    async def tell(chat: Conversation) -> None:
        key = "edges_outbox.chat_back" if reachable else "edges_outbox.chat_lost"
        for lead_id in await alerts.leads(settings.lead_ids):
            await outbox.enqueue("notice", outbox.person(lead_id), now, params=outbox.say(
                key, code=chat.customer.code, name=chat.customer.name, title=chat.title or chat.ref))
    return tell


class Courier:
    def __init__(self, channels: Channels, clock: Clock, settings) -> None:
        self.channels, self.clock, self.settings = channels, clock, settings
        self.wake = asyncio.Event()
        self.sent = 0

    async def run(self, stopping: asyncio.Event, idle: float = 0.5, sole_instance: bool = False) -> None:
        await outbox.release_stuck(self.clock.now(), sole_instance)
        rounds = 0
        while not stopping.is_set():
            rounds += 1
            if rounds % 240 == 0:  # now and then, rows of an instance that died meanwhile
                await outbox.release_stuck(self.clock.now())
            try:
                done = await self.drain_once()
            except Exception:
                log.exception("outbox courier round failed")
                done = 0
            if not done:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), idle)

    async def drain_once(self, limit: int = 20) -> int:
        """Send one round: at most one message per recipient (so their messages keep their order), each in
        the slot its channel reserved for it in the round's order (pings first), side by side — a slow
        answer or a wait for the database does not hold up the next slot."""
        busy: set[str] = set()
        for channel in self.channels:
            busy |= channel.busy()
        rows = await outbox.claim(self.clock.now(), limit, busy)
        slots = []
        for row in rows:
            channel = self.channels.get(row.channel)
            slots.append(await channel.reserve(row) if channel else 0.0)
        results = await asyncio.gather(*(self.deliver(row, slot) for row, slot in zip(rows, slots, strict=True)),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the others finished; the failed row is `sending` until released
        return len(rows)

    async def deliver(self, row: Outbox, slot: float) -> None:
        channel = self.channels.get(row.channel)
        if channel is None:  # written for a channel this instance is not configured for
            await outbox.mark_failed(row, f"no channel {row.channel!r} is configured")
            log.error("outbox %s: no channel %r is configured", row.id, row.channel)
            return
        # The slot first: a lead may unbind the chat, or bind it to another customer, while the row waits for
        # it (a group's pace, a 429's pause), and what is owed must still have its point when it goes.
        await channel.until(slot)
        reason = await outbox.pointless(row)
        if reason:
            await outbox.mark_dropped(row, reason)
            log.info("outbox %s dropped: %s", row.id, reason)
            if row.kind == "reply":  # a staff answer, only ever dropped because its chat is no longer theirs
                await self._tell_author(row, outbox.say("unbind2.reply_dropped", key=await self._key(row)))
            return
        conversation = await outbox.addressed_conversation(row)
        lost_since = conversation.unreachable_since if conversation and conversation.customer_id else None
        if lost_since is not None and self.clock.now() - lost_since < customers.RETRY_UNREACHABLE:
            await self._undeliverable(row, "the bot is not in this chat")  # fail fast: no call to the channel
            return
        started = time.monotonic()
        try:
            delivered = await channel.send(row)
        except Exception as exc:
            verdict = await channel.classify(row, exc)
            if verdict is None:
                raise
            await self._refused(row, verdict)
            return
        async with in_transaction():  # one commit: under an intake burst every round trip waits its turn
            await outbox.mark_sent(row, delivered.ref, self.clock.now())
            await channel.record(row, delivered)
        if lost_since is not None:  # a retry after RETRY_UNREACHABLE went through: the mute is over
            now = self.clock.now()
            await customers.set_reachable(conversation.channel, conversation.ref, True, now,
                                          chat_notice(self.settings, True, now))
        self.sent += 1
        telemetry.SENT.labels(row.kind).inc()
        log.info("sent %s #%s by %s to %s (incident %s) in %.0f ms", row.kind, row.id, row.channel,
                 _whom(row), row.incident_id, (time.monotonic() - started) * 1000)

    async def _refused(self, row: Outbox, verdict: Retry | Unreachable | Failed) -> None:
        if isinstance(verdict, Retry):
            await outbox.retry_later(row, self.clock.now() + timedelta(seconds=verdict.delay), verdict.reason,
                                     **verdict.changes)
            if verdict.delay <= 0:
                self.wake.set()
            log.warning("outbox %s: %s; retry in %ss", row.id, verdict.reason.splitlines()[0][:200], verdict.delay)
        elif isinstance(verdict, Unreachable):
            await self._undeliverable(row, verdict.reason)
        else:
            await outbox.mark_failed(row, verdict.reason)
            log.error("outbox %s to %s rejected: %s", row.id, _whom(row), verdict.reason)
            await self._answer_refused(row, verdict.reason)

    async def _answer_refused(self, row: Outbox, reason: str) -> None:
        """A staff answer refused for good (a mail server's 5xx): whoever wrote it was told it goes to the
        customer, so they hear it did not (the leads, for a row from before authors were kept)."""
        if row.kind != "reply" or row.incident_id is None:
            return
        say = outbox.say("mailfix.reply_refused", key=await self._key(row), reason=reason.splitlines()[0][:300])
        await self._tell_author(row, say)

    @staticmethod
    async def _key(row: Outbox) -> str:
        key = await Incident.filter(id=row.incident_id).values_list("key", flat=True)
        return key[0] if key else "—"

    async def _tell_author(self, row: Outbox, say: dict) -> None:
        """Whoever wrote a staff answer hears that it did not reach the customer (the leads, for a row from
        before authors were kept)."""
        by = (row.params or {}).get("by")
        targets = [by] if isinstance(by, int) else await alerts.leads(self.settings.lead_ids)
        for person_id in targets:
            await outbox.enqueue("notice", outbox.person(person_id), self.clock.now(), params=say,
                                 incident_id=row.incident_id, dedupe=f"reply_refused:{row.id}:{person_id}")
        self.wake.set()

    async def _undeliverable(self, row: Outbox, reason: str) -> None:
        await outbox.mark_failed(row, reason)
        if row.person_id is None:
            await self._chat_lost(row, reason)
            return
        # `can_dm` is the person's Telegram DM (what /staff shows, what a block's notice to the leads compares):
        # MAX refusing a dialog notice says nothing of Telegram, and marks nothing of it.
        if row.channel == TELEGRAM:
            await people.mark_dm(row.person_id, False, self.clock.now())
        log.warning("outbox %s: person %s cannot be written to by %s (%s)", row.id, row.person_id, row.channel,
                    reason)
        if row.fallback:
            note = outbox.say("outbox.rerouted", name=await people.display_name(row.person_id))
            await outbox.reroute(row, await self._fallback_targets(), note, self.clock.now())
        self.wake.set()

    async def _chat_lost(self, row: Outbox, reason: str) -> None:
        """A customer chat the bot cannot write to any more is marked so (the leads are told once), and its
        notices go to the staff chat and the leads instead, without the chat's buttons; reports are left
        out, the leads get their own copy. Any other chat (the staff chat) can only be logged."""
        now = self.clock.now()
        chat = await outbox.addressed_conversation(row, fresh=True)
        if chat is None or chat.customer_id is None:
            log.error("outbox %s: %s cannot be reached: %s", row.id, _whom(row), reason)
            return
        if await customers.set_reachable(chat.channel, chat.ref, False, now, chat_notice(self.settings, False, now)):
            log.warning("outbox %s: the bot cannot write to %s's chat %s (%s)", row.id, chat.customer.code,
                        chat.ref, reason)
        if row.kind not in ("report", "answer"):  # a chat's own answers (`/status`) tell the leads nothing
            note = outbox.say("edges_outbox.rerouted_chat", code=chat.customer.code,
                              title=chat.title or chat.ref)
            await outbox.reroute(row, await self._fallback_targets(), note, now, keep_buttons=False)
        self.wake.set()

    async def _fallback_targets(self) -> list[outbox.Recipient]:
        targets = [outbox.person(lead) for lead in await alerts.leads(self.settings.lead_ids)]
        if self.settings.staff_chat_id:
            targets.insert(0, outbox.chat(self.settings.staff_chat_id))
        return targets


def _whom(row: Outbox) -> str:
    if row.person_id is not None:
        return f"person {row.person_id}"
    return f"conversation {row.conversation_id}" if row.conversation_id is not None else f"chat {row.chat_id}"


