"""The chat-room layer: a customer's group chat on a channel where the desk is a bot in the chat (eXpress,
MAX), in no channel's terms. A channel package turns what its server sends into a `RoomMessage` or a
`RoomPress`, hands it to `ChatRoom`, and sends back the `Say`s it returns (answers to that update); what the
desk owes the chat later (the acknowledgement, a staff answer, the rating prompt) leaves through the
outbox and is rendered by `handlers.room_render`.

What happens is what happens in a Telegram group (`handlers.customer_chat` calls the same code):
* a message (or an edit) that shows a live code (a staff invitation, any chat's code) burns it
  (`look_at`): every member has read it; what else the person wrote goes on with the code masked, a message
  that is little more than the code goes no further;
* in a chat bound to nobody, a message that is a binding code (`/invite CODE express`) binds it; any other
  goes to the unbound inbox (answered "not connected yet" at most hourly); a text that only looks like a
  code is a message like any other;
* in a bound chat, `/new TEXT` opens an incident, `/status` lists the open ones, `/help` says so; any other
  message from a customer is intake (threaded by what it replies to), from staff who linked their
  account on the channel the response to the incident it answers;
* a pressed button (its data from `action`) changes the priority or rates the answer, with Telegram's
  access rules (`domain.chatroom`); data that is not ours, or not valid, is answered and changes nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from domain import chatroom, customers, inbox, incidents, intake, invitations, outbox, people
from domain.errors import Counted, DeskError, Named
from domain.identities import any_conversation, conversation_of
from domain.inbox import IncomingMessage
from domain.lang import of_chat_row, of_person_row
from domain.models import Conversation, Incident
from domain.policy import PRIORITIES
from domain.text import clean, has_words, shown
from handlers.desk import Desk
from handlers.formatting import time_left, zone_of
from handlers.pings import reopened_notice
from locales import format as fmt
from locales import t

log = logging.getLogger(__name__)
PRIORITY, RATE = "prio", "rate"
_ACTION = re.compile(r"^dd:(prio|rate):(\d{1,18}):([A-Za-z0-9]{1,4})$")
MAX_ID = 2**31 - 1  # incident ids are 32-bit integers
_COMMAND = re.compile(r"^/([A-Za-z_]+)(?:@\S+)?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class RoomMessage:
    """A message in a chat room, as the channel's server gave it: every reference is the channel's own."""

    channel: str  # express, max
    chat: str  # the chat's id on the channel
    ref: str  # the message's id
    sender: str  # the author's user id on the channel
    sender_name: str
    text: str
    sent_at: datetime | None  # None: the channel gave none, the desk's clock stands in
    chat_title: str = ""
    reply_to: str | None = None  # the id of the message this one answers
    attachments: list[dict[str, str]] = field(default_factory=list)  # metadata: kind, name, type, size
    private: bool = False  # a person's private dialog with the bot, not a group chat


@dataclass(frozen=True)
class RoomPress:
    """A button pressed in a chat room: its data as `action` made it, whoever pressed it, and where."""

    channel: str
    chat: str
    sender: str
    sender_name: str
    data: str


@dataclass(frozen=True)
class Button:
    label: str
    data: str  # `action(…)`: what the channel hands back in a `RoomPress`


@dataclass(frozen=True)
class Say:
    """Something to write in the chat now, in the chat's language already."""

    text: str
    reply_to: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass(frozen=True)
class Action:
    kind: str  # PRIORITY, RATE
    incident: int
    value: str


def action(kind: str, incident_id: int, value: str | int) -> str:
    """A button's data: short and plain, so it fits any channel's button (MAX payloads, eXpress bubbles)."""
    return f"dd:{kind}:{incident_id}:{value}"


def parse_action(data: str) -> Action | None:
    """A button's data back, or None for anything the desk did not make (or made wrong)."""
    match = _ACTION.match(data or "")
    if match is None:
        return None
    kind, incident, value = match[1], int(match[2]), match[3]
    if incident > MAX_ID:  # no incident has it (and PostgreSQL would refuse to look it up)
        return None
    if kind == PRIORITY and value.upper() not in PRIORITIES:
        return None
    if kind == RATE and not (value.isdigit() and 1 <= int(value) <= 5):
        return None
    return Action(kind, incident, value)


def priority_buttons(incident_id: int, lang: str) -> tuple[tuple[Button, ...], ...]:
    """The P1–P4 buttons under an acknowledgement, saying what each means, two to a row."""
    buttons = [Button(t(lang, f"words.button.{p}"), action(PRIORITY, incident_id, p)) for p in PRIORITIES]
    return tuple(tuple(buttons[i:i + 2]) for i in range(0, len(buttons), 2))


def rating_buttons(incident_id: int) -> tuple[tuple[Button, ...], ...]:
    return (tuple(Button("★" * stars, action(RATE, incident_id, stars)) for stars in range(1, 6)),)


# An outbox row of a direct answer (`owe_answers`): its words as written (`text`), its buttons and reply.
ANSWER = "answer"


async def owe_answers(channel: str, chat: str, says: list[Say], key: str, now: datetime) -> list[Say]:
    """The answers to an update (the chat is bound, `/status`, a pressed button's result) as outbox rows of
    the chat's conversation, so they are paced, split, retried and survive a restart like any notice; keyed
    by the update (`key`), so an update handled again owes them once. Returned: those for a chat the desk
    keeps no conversation for (the hourly "not connected yet", a link code sent in a private dialog), which
    the channel sends at once."""
    conversation = await any_conversation(channel, chat) if says else None
    if conversation is None:
        return says
    for index, say in enumerate(says):
        params = {"text": say.text, "reply_to": say.reply_to,
                  "keys": [[[button.label, button.data] for button in row] for row in say.buttons]}
        await outbox.enqueue(ANSWER, outbox.conversation(conversation), now, params=params,
                             dedupe=f"answer:{channel}:{key}:{index}"[:128])
    return []


# The Settings attribute that is None while a chat-room channel is off.
ROOM_SETTINGS = {"express": "express", "max": "max"}


def channel_on(settings, channel: str) -> bool:
    return getattr(settings, ROOM_SETTINGS.get(channel, "-"), None) is not None


async def invite_text(code: str, channel: str, lead_id: int, desk: Desk) -> str:
    """`/invite CODE express`: a one-time code a member of the customer's chat on that channel sends there."""
    channel = channel.lower()
    if channel not in chatroom.ROOM_CHANNELS:
        raise DeskError("usage.invite")
    if not channel_on(desk.settings, channel):
        raise DeskError("chatroom.channel_off", channel=Named("desk.channel", channel))
    customer, token = await chatroom.invite(code, channel, lead_id, desk.now())
    return t(desk.lang, "chatroom.invite", code=customer.code, name=customer.name, token=token,
             channel=Named("desk.channel", channel), days=Counted("words.n.days", invitations.VALID_FOR.days))


async def link_text(channel: str, staff_id: int, desk: Desk) -> str:
    """`/link express`: a staff member's one-time code to send to the bot from their account there."""
    channel = channel.lower()
    if channel not in chatroom.ROOM_CHANNELS:
        raise DeskError("usage.link")
    if not channel_on(desk.settings, channel):
        raise DeskError("chatroom.channel_off", channel=Named("desk.channel", channel))
    token = await chatroom.link_code(channel, staff_id, desk.now())
    return t(desk.lang, "chatroom.link", token=token, channel=Named("desk.channel", channel),
             days=Counted("words.n.days", invitations.VALID_FOR.days))


# ---- shared with the Telegram group's handlers (`handlers.customer_chat`) ----

def windows(settings) -> intake.Windows:
    return intake.Windows(thread=settings.thread_window, reopen=settings.reopen_window)


async def take_in(msg: IncomingMessage, chat: Conversation, desk: Desk, force_new: bool = False) -> Incident | None:
    """A customer's message into its incident (a new one owes the acknowledgement and the pings, a reply
    to a resolved one reopens it); None when it was seen before."""
    now = desk.now()
    result = await intake.record_customer_message(msg, chat, desk.sla, windows(desk.settings), now,
                                                  force_new=force_new, on_created=desk.on_created,
                                                  on_reopened=reopened_notice(desk.settings, now))
    if result.duplicate or result.incident is None:
        return None
    desk.trace["incident"] = result.incident.key
    desk.wake_outbox()  # the acknowledgement or the reopen notice, owed with the message, goes out now
    return result.incident


# What a staff member is told of a reply to a message of the customer the chat belonged to before.
OLD_CUSTOMERS = "moved5.staff_old_customer"


async def staff_answer(msg: IncomingMessage, chat: Conversation, staff_id: int, desk: Desk) -> str | None:
    """A staff member's plain message in a customer chat is the first response to the incident it answers:
    the one it replies to, else the chat's open incident awaiting a response. A reply to a message of an
    incident that is no longer the chat's (`incidents.belongs`: the chat moved to another customer) answers
    nothing, since that customer reads nothing here: returned is the catalog key of what the staff member
    is told then (in their language, aloud, as in a chat bound to nobody), else None."""
    incident = await intake.incident_of_message(chat.id, msg.reply_to)
    if incident is not None and not incidents.belongs(incident, chat):
        return OLD_CUSTOMERS
    if incident is None:
        incident = await incidents.awaiting_response(chat.id, msg.topic)
    if incident is None or incident.status not in intake.OPEN:
        return None  # staff chatter that answers no open incident
    await incidents.staff_message(incident, staff_id, msg.author, chat.id, msg.ref, msg.text, msg.attachments,
                                  desk.now())
    return None


async def status_text(chat: Conversation, lang: str, desk: Desk) -> str:
    """`/status`: the chat's open incidents, with who took each or by when we answer."""
    open_here = await incidents.in_chat(chat.id)
    if not open_here:
        return t(lang, "status.none")
    lines = [t(lang, "status.header")]
    zone, now = zone_of(chat.customer, desk.settings), desk.now()
    for incident in open_here:
        if incident.assignee_id:
            who = t(lang, "status.taken", name=await people.display_name(incident.assignee_id))
        elif incident.responded_at is None and incident.deadline:
            who = t(lang, "status.waiting_until", deadline=fmt.when(lang, incident.deadline, zone, now),
                    left=time_left(lang, incident.deadline, now))
        else:
            who = t(lang, "status.waiting")
        lines.append(t(lang, "status.row", key=incident.key, priority=incident.priority,
                       status=t(lang, f"state.{incident.status}"), who=who, title=incident.title))
    return "\n".join(lines)


def priority_changed_text(incident: Incident, lang: str, settings, now: datetime) -> str:
    text = t(lang, "priority.changed_chat", key=incident.key, priority=incident.priority,
             meaning=t(lang, f"priority.{incident.priority}"))
    if incident.responded_at is None and incident.deadline:
        zone = zone_of(incident.customer, settings)
        text += "\n" + t(lang, "words.status.due", deadline=fmt.when(lang, incident.deadline, zone, now))
    return text


async def look_at(text: str, chat: Conversation | None, person_id: int | None, desk: Desk,
                  place: str = "") -> invitations.Shown:
    """The one look at what a person wrote where others read it (a chat room, a Telegram group, a chat bound to
    nobody: `place` names it), made once per message on every channel's path: each live code in it is burnt, since
    everyone there read it (`invitations.burn_shown`). The caller keeps only `Shown.text` (codes masked), and
    tells the chat: `shown_said` for a message that held only codes, `taken_with_code` when the rest went on."""
    shown = await invitations.burn_shown(text, chat, person_id, desk.now(), place)
    if shown.burnt:
        desk.wake_outbox()  # its maker is told now
    return shown


SHOWN, TAKEN = "burn.shown", "burn2.shown_taken"  # the chat told the code is dead; and that the rest went on


def told_going_on(chat: Conversation | None, actor: people.Actor) -> str:
    """What a chat is told of a message that goes on with its codes masked: that the rest reached support only
    where it is a report (a customer's, in a bound chat); staff's words and a chat bound to nobody's are none."""
    return TAKEN if chat is not None and not actor.is_staff else SHOWN


# ---- the chat room ----

def storable(msg: RoomMessage) -> RoomMessage:
    """Every text a channel gave with a message, in one place for every chat-room channel: storable
    (PostgreSQL refuses NUL in text and in jsonb), and the names and titles staff see without bidi controls."""
    return replace(msg, sender_name=shown(msg.sender_name), chat_title=shown(msg.chat_title), text=clean(msg.text),
                   attachments=[{key: shown(str(value)) for key, value in item.items()} for item in msg.attachments])


def incoming(msg: RoomMessage, person_id: int | None, text: str | None = None) -> IncomingMessage:
    """A message made `storable` already, for intake."""
    return IncomingMessage(
        channel=msg.channel, conversation=msg.chat, ref=msg.ref, person_id=person_id, author=msg.sender_name,
        text=msg.text if text is None else text, attachments=list(msg.attachments), sent_at=msg.sent_at,
        title=msg.chat_title, reply_to=msg.reply_to)


class ChatRoom:
    """What the desk does with a chat room's messages and button presses; one per bot, shared by channels."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def _lang(self, chat: Conversation | None) -> str:
        return of_chat_row(chat, self.desk.settings.default_lang)

    async def message(self, msg: RoomMessage) -> list[Say]:
        chatroom.room_channel(msg.channel)
        msg = storable(msg)
        if not has_words(msg.text) and not msg.attachments:
            return []  # nothing a person wrote (an empty body, a bare keyboard, a zero-width space): no page
        settings, now = self.desk.settings, self.desk.now()
        if msg.sent_at is None:  # a channel that gave no moment: the desk's own clock, never a poison update
            msg = replace(msg, sent_at=now)
        chat = await conversation_of(msg.channel, msg.chat)
        if chat is not None and chat.unreachable_since is not None:
            await self.back(msg.channel, msg.chat)  # the chat's own message: the bot is in it again
        lang = self._lang(chat)
        actor = await chatroom.sender(msg.channel, msg.sender, msg.sender_name, chat, settings.lead_ids, now,
                                      settings.default_lang)
        told: list[Say] = []
        try:
            # A code is a code only when the desk made it: anything else that looks like one (an error
            # code, a serial number) is a customer's words, kept like any other.
            code = chatroom.code_in(msg.text)
            kind = await invitations.kind_of(code) if code is not None else None
            if kind == invitations.LINK:
                # Only a private dialog links: in a group everyone read the code (a customer handed it would
                # become the staff member), so it is burnt there like any shown code and links nobody.
                if not msg.private and (await look_at(msg.text, chat, actor.user_id, self.desk,
                                                      msg.chat_title or msg.chat)).burnt:
                    raise DeskError("rooms4fix.link_in_group", channel=Named("desk.channel", msg.channel))
                return await self._link(msg, code)  # in a group: one no longer live, answered why
            if chat is None and kind is not None:
                return await self._code(msg, actor, chat, code, kind)
            shown = await look_at(msg.text, chat, actor.user_id, self.desk, msg.chat_title or msg.chat)
            if shown.only_codes and not msg.attachments:
                raise DeskError(SHOWN)
            if shown.found:
                msg, told = replace(msg, text=shown.text), [Say(t(lang, told_going_on(chat, actor)), reply_to=msg.ref)]
            if kind is not None:  # a used or expired code, the whole message
                return await self._code(msg, actor, chat, code, kind)
            if chat is None:
                return told + await self._unbound(msg, actor, lang)
            return told + await self._bound(msg, actor, chat, lang)
        except DeskError as error:
            return [*told, Say(t(lang, error.key, **error.params), reply_to=msg.ref)]

    async def edited(self, msg: RoomMessage) -> list[Say]:
        """An edited message: its stored text follows, with any live code edited into it burnt and masked, since
        everyone in the chat read the edit too."""
        chatroom.room_channel(msg.channel)
        msg = storable(msg)
        chat = await conversation_of(msg.channel, msg.chat)
        settings, now = self.desk.settings, self.desk.now()
        editor = None  # a channel that names no editor: the code is burnt all the same, by nobody known
        if msg.sender:
            editor = (await chatroom.sender(msg.channel, msg.sender, msg.sender_name, chat, settings.lead_ids, now,
                                            settings.default_lang)).user_id
        shown = await look_at(msg.text, chat, editor, self.desk, msg.chat_title or msg.chat)
        await intake.record_edit(msg.channel, msg.chat, msg.ref, shown.text, now)
        return [Say(t(self._lang(chat), SHOWN), reply_to=msg.ref)] if shown.found else []

    async def _code(self, msg: RoomMessage, actor: people.Actor, chat: Conversation | None, code: str,
                    kind: str) -> list[Say]:
        """A message that is one code (in a bound chat: one no longer live): a code for a chat here binds it (in a
        bound chat: says it is bound already); any other is answered where it belongs, as ever (a secret, never an
        incident's title nor a line in the unbound inbox)."""
        if kind != "staff" and (chat is None or kind == msg.channel):
            return await self._bind(msg, actor, code)
        where = "telegram" if kind in ("staff", "chat") else kind
        raise DeskError("chatroom.wrong_place", channel=Named("desk.channel", where))

    async def back(self, channel: str, chat: str) -> None:
        """The bot is in the chat again (the channel said it was added back, or the chat wrote): what is owed
        there goes there again, not to the staff chat, and the leads hear it once, as for a Telegram group
        (`handlers.membership`, the same rule: `customers.set_reachable`)."""
        now = self.desk.now()
        await customers.set_reachable(channel, chat, True, now, self.desk.chat_notice(self.desk.settings, True, now))
        self.desk.wake_outbox()

    async def _link(self, msg: RoomMessage, code: str) -> list[Say]:
        """A staff member's link code, sent from their account on the channel in a private dialog with the bot."""
        staff = await chatroom.link(msg.channel, msg.sender, code, self.desk.now())
        lang = of_person_row(staff, self.desk.settings.default_lang)
        log.info("%s account %s linked to staff member %s", msg.channel, msg.sender, staff.id)
        return [Say(t(lang, "chatroom.linked", name=staff.full_name or staff.username or str(staff.id),
                      channel=Named("desk.channel", msg.channel)))]

    async def _bind(self, msg: RoomMessage, actor: people.Actor, code: str) -> list[Say]:
        try:
            chat = await chatroom.bind(msg.channel, msg.chat, msg.chat_title, code, actor.user_id,
                                       self.desk.now())
        except DeskError as error:
            if error.key in ("err.already_bound", "err.already_bound_same"):  # no /unbind in a chat room
                raise DeskError("chatroom.already_bound", **error.params) from None
            raise
        lang = self._lang(chat)
        text = t(lang, "bind.done", code=chat.customer.code, name=chat.customer.name)
        waiting = await inbox.waiting_in(msg.channel, msg.chat)
        if waiting:
            text += "\n\n" + t(lang, "bind.waiting", count=waiting)
        log.info("%s chat %s bound to %s", msg.channel, msg.chat, chat.customer.code)
        return [Say(text)]

    async def _unbound(self, msg: RoomMessage, actor: people.Actor, lang: str) -> list[Say]:
        now = self.desk.now()
        if actor.is_staff:
            if await chatroom.unbound_with_open_incidents(msg.channel, msg.chat):
                return [Say(t(actor.lang, "unbind2.staff_in_unbound"), reply_to=msg.ref)]  # in their language
            return []  # staff talking in a chat not yet bound: nobody asked support anything
        if await inbox.keep_unbound(incoming(msg, actor.user_id), now, self.desk.settings.retention.unbound_per_chat):
            return [Say(t(lang, "unbound.notice"))]
        return []

    async def _bound(self, msg: RoomMessage, actor: people.Actor, chat: Conversation, lang: str) -> list[Say]:
        command = _COMMAND.match(msg.text.strip())
        if command is not None:
            name, rest = command[1].lower(), (command[2] or "").strip()
            if name == "status":
                return [Say(await status_text(chat, lang, self.desk), reply_to=msg.ref)]
            if name == "new":
                if not has_words(rest):
                    raise DeskError("usage.new")
                await take_in(incoming(msg, actor.user_id, rest), chat, self.desk, force_new=True)
                return []
            if name == "lang":  # as in a Telegram group: the customer (or a lead) sets the chat's language
                words = rest.split()
                if len(words) != 1:
                    raise DeskError("usage.lang")
                chosen, said = await people.choose_lang(actor, words[0], self.desk.now())
                return [Say(t(chosen, said), reply_to=msg.ref)]
            if name in ("help", "start"):
                return [Say(t(lang, "chatroom.help", new="/new", status="/status"), reply_to=msg.ref)]
            # Any other command is a customer's words all the same (a path, a typo): it is taken in.
        if actor.is_staff:
            told = await staff_answer(incoming(msg, actor.user_id), chat, actor.user_id, self.desk)
            return [Say(t(actor.lang, told), reply_to=msg.ref)] if told else []  # in their language
        await take_in(incoming(msg, actor.user_id), chat, self.desk)
        return []

    async def press(self, press: RoomPress) -> list[Say]:
        chatroom.room_channel(press.channel)
        press = replace(press, sender_name=shown(press.sender_name))
        settings, now = self.desk.settings, self.desk.now()
        chat = await conversation_of(press.channel, press.chat)
        lang = self._lang(chat)
        pressed = parse_action(press.data)
        if pressed is None:
            return [Say(t(lang, "err.bad_button"))]
        actor = await chatroom.sender(press.channel, press.sender, press.sender_name, chat, settings.lead_ids, now,
                                      settings.default_lang)
        try:
            if pressed.kind == PRIORITY:
                updated = await chatroom.press_priority(pressed.incident, pressed.value, chat, actor, now,
                                                        self.desk.sla)
                return [Say(priority_changed_text(updated, lang, settings, now))]
            rated = await chatroom.press_rating(pressed.incident, int(pressed.value), chat, actor, now)
            return [Say(t(lang, "rating.thanks", key=rated.key, stars=rated.rating))]
        except DeskError as error:
            return [Say(t(lang, error.key, **error.params))]
