"""Chat rooms: the rules of a customer's group chat on a channel other than Telegram (eXpress, MAX), where
the desk is a bot in the chat and knows people only by the channel's own user ids.

The rules are the Telegram group's, in one place each: a chat is bound with a one-time code a lead made
for that channel (`/invite CODE express`), a member sends it in the chat; a priority button may be pressed
by staff or the incident's reporter, a rating only by a customer, each only in the chat of its incident.
Telegram's button handlers call the same functions.
"""

from __future__ import annotations

import re
from datetime import datetime

from tortoise.transactions import in_transaction

from domain import customers, incidents, invitations, people
from domain.errors import DeskError, Named
from domain.identities import normalize_ref, person_for
from domain.models import Conversation, Identity, Incident, Person, Staff, UnboundConversation
from domain.sla import Sla
from domain.text import shown

ROOM_CHANNELS = ("express", "max")  # channels whose customer conversations are chat rooms with a bot in them
# What a member sends to bind the chat: the code alone (an invitation token), nothing around it.
_CODE = re.compile(r"^\s*([A-Za-z0-9_-]{16,64})\s*$")


def takes_chat_notices(channel: str) -> bool:
    """Whether a conversation on this channel is a chat the desk writes in (announcements, reports): a
    Telegram group or a chat room; an e-mail address gets mail about its own incidents only."""
    return channel == "telegram" or channel in ROOM_CHANNELS


def room_channel(channel: str) -> str:
    """A channel a chat room can be on; anything else is a mistake of the caller, not the user."""
    if channel not in ROOM_CHANNELS:
        raise ValueError(f"{channel!r} is no chat-room channel")
    return channel


def code_in(text: str) -> str | None:
    """The binding code a message consists of, if it is one."""
    match = _CODE.match(text)
    return match[1] if match else None


async def invite(code: str, channel: str, lead_id: int, now: datetime):
    """A one-time code that binds a chat room on `channel` to the customer (the invitation's kind is the
    channel: a code made for eXpress binds nothing in Telegram or MAX)."""
    return await customers.invite_chat(code, lead_id, now, kind=room_channel(channel))


async def bind(channel: str, chat_ref: str, title: str, token: str, person_id: int, now: datetime) -> Conversation:
    """Redeem the code sent in the chat: the chat is bound to the code's customer (DeskError: why not). A
    chat room's messages rarely carry its name: one learnt before (`name_chat`) stays."""
    title = title or await known_title(channel, chat_ref)
    return await customers.bind_by_invitation(token, room_channel(channel), chat_ref, title, "group", person_id, now,
                                              invitation_kind=channel)


def _rows(channel: str, chat_ref: str):
    ref = normalize_ref(room_channel(channel), chat_ref)
    return (Conversation.filter(channel=channel, ref=ref), UnboundConversation.filter(channel=channel, ref=ref))


async def untitled(channel: str, chat_ref: str) -> bool:
    """Whether the desk keeps this chat (bound or once bound, or in the unbound inbox) without its name."""
    return any([await rows.filter(title="").exists() for rows in _rows(channel, chat_ref)])


async def known_title(channel: str, chat_ref: str) -> str:
    for rows in _rows(channel, chat_ref):
        for title in await rows.exclude(title="").values_list("title", flat=True):
            return title
    return ""


async def name_chat(channel: str, chat_ref: str, title: str, renamed: bool = False) -> None:
    """The chat's name, as its channel gave it (when the chat was made, or asked of it), becomes the title
    of its conversation and of its place in the unbound inbox, where they have none yet: `/unbound` and
    `/customer CODE` name the chat. `renamed`: the channel says the chat's name changed (or a message names
    it as it is now), so it replaces the one kept."""
    title = " ".join(shown(title).split())[:256]  # one line, as the inbox and the card show it
    if title:
        for rows in _rows(channel, chat_ref):
            await (rows if renamed else rows.filter(title="")).exclude(title=title).update(title=title)


async def link_code(channel: str, staff_id: int, now: datetime) -> str:
    """A one-time code a staff member sends to the bot on `channel` to make that account theirs."""
    return await invitations.create(invitations.LINK, staff_id, now, role=room_channel(channel))


async def link(channel: str, user_ref: str, token: str, now: datetime) -> Person:
    """Redeem a staff member's link code sent from this account on the channel: the account becomes one of
    theirs, so what they write in customers' chats there is a staff answer (DeskError: why not)."""
    async with in_transaction():
        account = await person_for(room_channel(channel), user_ref, now)
        invitation = await invitations.redeem(token, invitations.LINK, account.id, now)
        if invitation.role != channel:
            raise DeskError("chatroom.wrong_place", channel=Named("desk.channel", invitation.role or ""))
        if not await Staff.exists(user_id=invitation.created_by, active=True):
            raise DeskError("chatroom.link_not_staff")
        # The account's identity moves to the staff member; what it wrote before stays with the old person.
        await Identity.filter(channel=channel, ref=normalize_ref(channel, user_ref)).update(
            person_id=invitation.created_by)
        return await Person.get(id=invitation.created_by)


async def sender(channel: str, user_ref: str, name: str, chat: Conversation | None, lead_ids: frozenset[int],
                 now: datetime, default_lang: str) -> people.Actor:
    """Who wrote or pressed: the person with this identity on the channel (created when new). A staff
    member who linked their account on the channel is staff here too; everyone else is a customer in a
    bound chat and a stranger elsewhere."""
    person = await person_for(room_channel(channel), user_ref, now, name)
    return await people.resolve_actor(person.id, chat, lead_ids, person, default_lang)


async def unbound_with_open_incidents(channel: str, chat_ref: str) -> bool:
    """Whether a chat bound to nobody still holds open incidents (it was unbound meanwhile). A staff
    member's message there answered one while it was bound; now it answers none (the chat may be someone
    else's: nothing of the incident goes there), so they are told rather than left to think it counted."""
    return await Incident.exists(conversation__channel=channel, conversation__ref=normalize_ref(channel, chat_ref),
                                 conversation__customer_id__isnull=True, status__in=incidents.OPEN)


async def _pressed_here(incident_id: int, chat: Conversation | None) -> Incident:
    """The incident of a button, pressed in the chat it was sent to while that chat is still its customer's
    (else the button is stale: a chat that moved to another customer keeps the old customer's buttons). A
    Telegram group upgraded to a supergroup still shows its old messages, whose buttons come from the old
    address: they are the supergroup's own."""
    incident = await Incident.get_or_none(id=incident_id).select_related("customer")
    if incident is None or chat is None:
        raise DeskError("err.button_stale")
    if incident.conversation_id != chat.id and await customers.upgraded_from(chat, incident):
        chat = await Conversation.get(id=incident.conversation_id)
    if not incidents.belongs(incident, chat):
        raise DeskError("err.button_stale")
    return incident


async def press_priority(incident_id: int, priority: str, chat: Conversation | None, actor: people.Actor,
                         now: datetime, sla: Sla) -> Incident:
    """A priority button: staff, or the customer who reported the incident, may change it."""
    incident = await _pressed_here(incident_id, chat)
    if not actor.is_staff and actor.user_id != incident.reporter_id:
        raise DeskError("err.not_your_button")
    return await incidents.set_priority(incident, priority, actor.user_id, now, sla)


async def press_rating(incident_id: int, stars: int, chat: Conversation | None, actor: people.Actor,
                       now: datetime) -> Incident:
    """A rating button: the customer's word on the answer, never staff's."""
    if actor.is_staff:
        raise DeskError("err.staff_cannot_rate")
    await _pressed_here(incident_id, chat)
    return await incidents.rate(incident_id, actor.user_id, stars, now)
