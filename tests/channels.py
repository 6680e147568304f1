"""Test shorthands for the channel model: a Telegram chat's conversation row, an incident's chat."""

from __future__ import annotations

from domain.identities import TELEGRAM
from domain.inbox import IncomingMessage
from domain.models import Conversation, Incident


def tg(chat_id: int) -> dict[str, str]:
    """The lookup of a Telegram chat's conversation: `Conversation.get(**tg(GROUP))`."""
    return {"channel": TELEGRAM, "ref": str(chat_id)}


async def conversation(chat_id: int) -> Conversation:
    return await Conversation.get(**tg(chat_id))


async def bound(chat_id: int) -> bool:
    return await Conversation.exists(**tg(chat_id), customer_id__isnull=False)


async def chat_of(incident: Incident) -> int:
    """The Telegram chat id of the incident's conversation."""
    return int((await Conversation.get(id=incident.conversation_id)).ref)


def telegram_message(chat_id: int, message_id: int, user_id: int | None, author: str, text: str,
                     attachments: list, sent_at, chat_title: str = "", reply_to: int | None = None,
                     thread_id: int | None = None) -> IncomingMessage:
    """An incoming message as the Telegram edge builds it, from Telegram's ids."""
    return IncomingMessage(channel=TELEGRAM, conversation=str(chat_id), ref=str(message_id), person_id=user_id,
                           author=author, text=text, attachments=attachments, sent_at=sent_at, title=chat_title,
                           reply_to=None if reply_to is None else str(reply_to),
                           topic=None if thread_id is None else str(thread_id))


async def tg_conversation(chat_id: int, customer=None) -> Conversation:
    """The conversation of a Telegram chat, made (bound to `customer`, if given) when the test needs one."""
    found = await Conversation.get_or_none(**tg(chat_id))
    if found is None:
        found = await Conversation.create(**tg(chat_id), customer=customer, kind="supergroup")
    return found


async def owed_to(chat_id: int) -> dict[str, int]:
    """The outbox lookup of rows owed to a customer's Telegram chat (rows name its conversation):
    `Outbox.get(**await owed_to(GROUP))`."""
    return {"conversation_id": (await conversation(chat_id)).id}


class Refused(Exception):
    """What the test channel raises for a conversation it is told it cannot reach."""


class LoftChannel:
    """A channel that is not Telegram (`domain.channels.Channel`), for tests: it 'sends' by recording the
    address it found for the row at send time, and cannot reach the refs in `refusing`."""

    name = "loft"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict]] = []  # (the conversation's ref, kind, params)
        self.refusing: set[str] = set()

    async def reserve(self, row) -> float:
        return 0.0

    async def until(self, slot: float) -> None:
        return None

    def busy(self) -> set[str]:
        return set()

    async def send(self, row):
        from domain import outbox
        from domain.channels import Delivered

        conversation = await outbox.addressed_conversation(row)
        if conversation is None or conversation.channel != self.name:
            raise Refused("no loft conversation")
        if conversation.ref in self.refusing:
            raise Refused(conversation.ref)
        said = {name: value for name, value in row.params.items() if name != outbox.FOR_CUSTOMER}  # bookkeeping
        self.sent.append((conversation.ref, row.kind, said))
        return Delivered(f"loft-{len(self.sent)}", "")

    async def classify(self, row, error):
        from domain.channels import Unreachable

        return Unreachable(str(error)) if isinstance(error, Refused) else None

    async def record(self, row, delivered) -> None:
        return None
