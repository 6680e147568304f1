"""The eXpress channel (`domain.channels.Channel`): what the outbox owes an eXpress chat, rendered by the
chat-room renderer (`handlers.room_render`) in the chat's language when it is sent, and sent through pybotx.

Each message is confirmed asynchronously: BotX answers the send with a `sync_id` and later calls the bot's
`/express/notification/callback` with the result, which `send` waits for (`ANSWER_WAIT`). Its verdicts:

* the chat is gone or the bot was removed from it (`chat_not_found`, `bot_is_not_a_chat_member`): the
  chat is unreachable (the courier tells the leads and sends its notices to the staff chat);
* BotX or its network away, a 5xx, a 429, an expired signature: tried again with exponential backoff
  (1 s, 2 s, 4 s … at most 60 s);
* no result within the wait: the message was accepted and is taken as sent (sending it again would
  repeat it in the chat); logged;
* an answer to the send that is no BotX answer (a proxy's page with a 200): tried again with backoff, and
  after `GARBAGE_TRIES` the row fails (counted on the desk page, as every failed notice);
* anything else BotX refuses: the row fails, logged.

Pacing: one message at a time per chat, about a second apart, and at most 10 a second overall, well
inside what a CTS server takes.
"""

from __future__ import annotations

import logging
from uuid import UUID

import httpx
from pybotx import (
    BotIsNotChatMemberError,
    BotShuttingDownError,
    BotXMethodFailedCallbackReceivedError,
    CallbackNotReceivedError,
    ChatNotFoundError,
    InvalidBotAccountError,
    InvalidBotXResponsePayloadError,
    InvalidBotXStatusCodeError,
    RateLimitReachedError,
    UnknownBotAccountError,
)
from tortoise.transactions import in_transaction

from domain import outbox
from domain.channels import Delivered, Failed, Retry, Unreachable, Verdict
from domain.clock import Clock
from domain.models import Outbox
from domain.sla import Sla
from domain.text import split
from handlers.express.server import BODY_LIMIT, NAME, ExpressBot, bubbles, split_ref
from handlers.pacer import Pacer
from handlers.room_render import Unrenderable, answering, conversation_of_row, remember_sent, render

log = logging.getLogger(__name__)
MAX_BACKOFF = 60
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
GARBAGE_TRIES = 5  # an answer BotX's client cannot read (a proxy's page) is tried this often, then fails


class ExpressChannel:
    name = NAME

    def __init__(self, express: ExpressBot, clock: Clock, settings, pacer: Pacer | None = None) -> None:
        self.express, self.clock, self.settings = express, clock, settings
        self.sla = Sla(settings.policy)
        self.pacer = pacer or Pacer(per_second=10, private_gap=1.0, group_gap=1.0)

    # Pacing: rows name a chat by its conversation id (`outbox.conversation`), paced as one lane each.
    async def reserve(self, row: Outbox) -> float:
        return self.pacer.reserve(row.conversation_id or 0)

    async def until(self, slot: float) -> None:
        await self.pacer.until(slot)

    def busy(self) -> set[str]:
        return {f"{NAME}:v{conversation}" for conversation in self.pacer.busy()}

    async def send(self, row: Outbox) -> Delivered:
        conversation = await conversation_of_row(row)
        if conversation is None:
            raise Unrenderable("an eXpress notice for no eXpress chat")
        notice = await render(row, self.settings, self.sla, self.clock.now())
        if notice is None:
            return Delivered(None, "")  # nothing to show here (a report's chart)
        bot_id, chat_id = split_ref(conversation.ref)
        text = row.rest if row.rest is not None else notice.text
        if row.rest is None:  # not a reply (see `answering`): the first part says whose message it answers
            quoted = await answering(row, conversation, notice.reply_to, self.settings.default_lang)
            text = f"{quoted}\n\n{text}" if quoted else text
        parts = split(text, BODY_LIMIT)
        if not parts:
            return Delivered(None, "")
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            sync_id = await self._one(bot_id, chat_id, part, bubbles(notice.buttons) if last else None)
            if not last:  # written off the row: a retry sends only the rest
                async with in_transaction():
                    await outbox.part_sent(row, str(sync_id) if sync_id else "", "\n".join(parts[index + 1:]))
                    if sync_id is not None:
                        await remember_sent(row, conversation, str(sync_id), part, self.clock.now())
                await self.pacer.until(self.pacer.reserve(row.conversation_id or 0))
        return Delivered(str(sync_id) if sync_id else None, parts[-1])

    async def _one(self, bot_id: UUID, chat_id: UUID, body: str, markup) -> UUID | None:
        try:
            return await self.express.send(bot_id, chat_id, body, markup)
        except CallbackNotReceivedError as error:
            # BotX took the message and never said how it went: sending it again would repeat it.
            log.warning("eXpress: no result for message %s in chat %s; taken as sent", error.sync_id, chat_id)
            return error.sync_id
        except BotShuttingDownError:  # stopping: BotX took the message, its result can no longer arrive
            log.warning("eXpress: stopping before BotX confirmed a message to chat %s; taken as sent", chat_id)
            return None

    async def record(self, row: Outbox, delivered: Delivered) -> None:
        """The desk's message in the chat, by its sync_id: a customer's reply to it threads into the incident."""
        conversation = await conversation_of_row(row)
        if delivered.ref is not None and conversation is not None:
            await remember_sent(row, conversation, delivered.ref, delivered.text, self.clock.now())

    async def classify(self, row: Outbox, error: BaseException) -> Verdict | None:
        if isinstance(error, Unrenderable):
            return Failed(str(error))
        if isinstance(error, ChatNotFoundError | BotIsNotChatMemberError):
            return Unreachable(str(error) or type(error).__name__)
        backoff = min(2 ** max(row.attempts - 1, 0), MAX_BACKOFF)
        if isinstance(error, RateLimitReachedError):
            self.pacer.pause(row.conversation_id or 0, backoff)
            return Retry("429", backoff)
        if isinstance(error, InvalidBotXStatusCodeError):
            status = error.response.status_code
            if status in TRANSIENT_STATUS:
                return Retry(f"BotX answered {status}", backoff)
            return Failed(f"BotX answered {status}")
        if isinstance(error, InvalidBotXResponsePayloadError):
            # A 200 that is no BotX answer (a proxy in between): likely passing, but never for ever.
            reason = f"BotX answered {error.response.status_code} with no readable body"
            return Retry(reason, backoff) if row.attempts < GARBAGE_TRIES else Failed(reason)
        if isinstance(error, InvalidBotAccountError | httpx.HTTPError | OSError | TimeoutError):
            return Retry(f"{type(error).__name__}: {error}", backoff)
        if isinstance(error, BotXMethodFailedCallbackReceivedError | UnknownBotAccountError):
            return Failed(f"{type(error).__name__}: {error}")
        if isinstance(error, ValueError):  # pybotx will not build this request: it would refuse it every time
            return Failed(f"{type(error).__name__}: {error}")
        return None
