"""Group commit for polling: the plain customer messages of a `getUpdates` batch stored in one transaction.

Most of a burst is customers writing in their bound groups: no command, no reply, no button. Going
through the dispatcher one by one, each costs about eight statements and two commits (was it handled,
who wrote, are they staff, whose chat, the open incident, the incident, the message, the ledger). Here
the messages of a batch cost a handful of statements together: who wrote, whose chats, who is staff and
which were handled already are each one query for the whole batch, then `domain.intake` threads them in
one transaction that also writes the update ledger: the batch is durable, and confirmed to Telegram,
whole or not at all.

Only what the dispatcher would do exactly the same way is taken here (people seen for the first time, or
under a new name, are remembered first, as `people.seen` leaves them); everything else (commands, replies,
topics, edits, staff, unbound chats, a text that may show an invitation code) goes the usual way, and so
does the rest of a lane after the first such update, so a chat's order holds.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime

from aiogram.types import Message, Update
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

import telemetry
from domain import alerts, intake, invitations, people, updates
from domain.identities import TELEGRAM, conversations_of, people_of
from domain.models import Conversation, Incident, Person
from domain.text import shown
from handlers.chatroom import windows
from handlers.desk import Desk
from handlers.incoming import incoming, is_service

log = logging.getLogger("dutydesk")


def plain(update: Update) -> Message | None:
    """The message when the update, as Telegram sent it, can only be a customer's plain message to store
    (who wrote and whose chat still to be checked); else None."""
    message = update.message
    if message is None or message.chat.type not in ("group", "supergroup") or message.sender_chat is not None:
        return None
    user = message.from_user
    if user is None or user.is_bot or message.is_automatic_forward or message.migrate_to_chat_id:
        return None
    if message.reply_to_message is not None or message.is_topic_message or is_service(message):
        return None
    text = message.text or message.caption or ""
    if text.startswith("/"):
        return None  # a command, or "/var/log is full": the usual way
    # What may show a live code goes the usual way too, whose one look at it burns the code and masks it.
    return None if invitations.may_show_code(text) else message


class BatchIntake:
    def __init__(self, desk: Desk, heartbeat) -> None:  # scheduler.jobs.Heartbeat
        self.desk, self.heartbeat = desk, heartbeat

    async def take(self, lanes: list[list[Update]]) -> list[int]:
        """Store what it can of the start of each lane; returns how many updates of each lane it handled
        (durably, ledger written). On any error nothing was stored and every lane is left whole."""
        started = time.monotonic()
        heads = [[u for u in _prefix(lane, lambda u: plain(u) is not None)] for lane in lanes]
        taken = [u for head in heads for u in head]
        if not taken:
            return [0] * len(lanes)
        messages = {u.update_id: plain(u) for u in taken}
        done = await updates.handled_among([u.update_id for u in taken])
        persons = await people_of(TELEGRAM, sorted({str(m.from_user.id) for m in messages.values()}))
        chats = await conversations_of(TELEGRAM, sorted({str(m.chat.id) for m in messages.values()}))
        now = self.desk.now()
        await _remember([u for u in taken if u.update_id not in done and str(messages[u.update_id].chat.id) in chats],
                        messages, persons, now)
        staff = await people.staff_among([p.id for p in persons.values()])
        settings = self.desk.settings

        def ours(update: Update) -> bool:
            if update.update_id in done:
                return False  # handled before a restart: the usual way skips it (and says so)
            message = messages[update.update_id]
            user = message.from_user
            person = persons.get(str(user.id))
            return (person is not None and str(message.chat.id) in chats and person.id not in staff
                    and person.id not in settings.lead_ids
                    and people.unchanged(person, user.username, _name(message), user.language_code))

        counts = [len(_prefix(head, ours)) for head in heads]
        batch = [u for head, n in zip(heads, counts, strict=True) for u in head[:n]]
        if not batch:
            return counts
        items: list[tuple[intake.IncomingMessage, Conversation]] = []
        for update in batch:
            message = messages[update.update_id]
            person = persons[str(message.from_user.id)]
            items.append((incoming(message, now, person.id), chats[str(message.chat.id)]))
        ids = [u.update_id for u in batch]
        try:
            results = await intake.record_customer_messages(
                items, self.desk.sla, windows(settings), now, on_created=self._on_created(),
                also=lambda: updates.record_many(ids, now))
        except Exception as exc:  # a duplicate, the database away…: the usual way handles (or retries) each
            log.warning("a batch of %d messages goes the one-by-one way (%s: %s)", len(batch), type(exc).__name__,
                        str(exc).splitlines()[0][:200] if str(exc) else "")
            return [0] * len(lanes)
        if any(r.created for r in results):
            self.desk.wake_outbox()  # the acknowledgements owed with the new incidents go out now
        took = (time.monotonic() - started) * 1000
        for update_id, result in zip(ids, results, strict=True):
            self.heartbeat.update_handled(update_id)
            telemetry.UPDATES.inc()
            log.info("update %s (message) incident %s handled in %.0f ms (a batch of %d)", update_id,
                     result.incident.key, took, len(ids))
        return counts

    def _on_created(self) -> intake.OnCreated:
        """The desk's notices for each incident the batch opens, with who can be told read once for all
        of them (in the batch's transaction, when the first incident is opened)."""
        audience: alerts.Audience | None = None

        async def on_created(incident: Incident, message_ref: str, now: datetime) -> None:
            nonlocal audience
            if audience is None:
                settings = self.desk.settings
                audience = await alerts.Audience.at(now, settings.policy.shifts, settings.lead_ids)
            await self.desk.on_created(incident, message_ref, now, audience=audience)
        return on_created


async def _remember(updates: list[Update], messages: dict[int, Message], persons: dict[str, Person],
                    now: datetime) -> None:
    """Someone writing for the first time, or under a new name, is remembered as the middleware would
    (`people.seen`) before their messages are stored together: in one transaction, and the people met for
    the first time all at once (`people.first_seen`; one by one should one of them not be new after all).
    `persons` (Telegram user id → person) is brought up to date."""
    def changed(message: Message) -> bool:
        user, person = message.from_user, persons.get(str(message.from_user.id))
        return person is None or not people.unchanged(person, user.username, _name(message), user.language_code)

    if not any(changed(messages[u.update_id]) for u in updates):
        return
    latest = {messages[u.update_id].from_user.id: messages[u.update_id] for u in updates}  # their last message
    new = {user_id: (message.from_user.username, _name(message), message.from_user.language_code)
           for user_id, message in latest.items() if str(user_id) not in persons}
    async with in_transaction():
        if len(new) > 1:
            with contextlib.suppress(IntegrityError):
                async with in_transaction():
                    persons.update({str(i): person for i, person in (await people.first_seen(new, now)).items()})
        for update in updates:
            message = messages[update.update_id]
            if changed(message):
                user = message.from_user
                persons[str(user.id)] = await people.seen(user.id, user.username, _name(message), now,
                                                          user.language_code)


def _prefix(lane: list[Update], keep) -> list[Update]:
    head = []
    for update in lane:
        if not keep(update):
            break
        head.append(update)
    return head


def _name(message: Message) -> str:
    return shown(message.from_user.full_name)
