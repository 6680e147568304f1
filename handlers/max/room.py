"""MAX updates into the desk: a group chat's messages and button presses go to the channel-neutral chat-room
layer (`handlers.chatroom`: binding by a code, intake, `/status`, `/new`, priority and rating); a person's
private dialog with the bot gets a short word on where the desk listens, unless it is a staff member sending
their `/link max` code (then their MAX account is theirs, and their messages in customers' chats answer).

Everything here runs inside the update's transaction (`handlers.max.transport`): what the desk owes later (an
acknowledgement, a staff answer) is an outbox row written in it, so a retried update owes nothing twice. So are
the chat-room layer's direct answers (the chat is bound, `/status`, a pressed button's result,
`chatroom.owe_answers`): a MAX outage delays them, never loses them. Only a pressed button's pop-up, and an
answer in a chat the desk keeps no conversation for, are sent once the update committed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable

from maxapi import Bot

from domain import alerts, chatroom, identities, invitations, outbox, people
from domain.identities import conversation_of
from domain.lang import of_chat_row, supported
from domain.models import ParkedUpdate
from handlers.chatroom import ChatRoom, RoomMessage, RoomPress, Say, owe_answers
from handlers.desk import Desk
from handlers.max.channel import answer_in_chat
from handlers.max.updates import NAME, MaxUpdate
from locales import t

FollowUp = Callable[[], Awaitable[None]] | None


async def dialog(update: MaxUpdate, desk: Desk) -> None:
    """A person wrote to the bot in private (or opened the dialog): MAX lets the bot answer them now. The desk
    takes requests in customers' group chats, and says so (at most once an hour)."""
    if update.sender is None:
        return
    now = desk.now()
    person = await identities.person_for(NAME, update.sender, now, update.name)
    await people.app_lang_elsewhere(person, update.lang)  # answered in their app's language, as a pop-up is
    await outbox.enqueue("notice", outbox.person(person.id, channel=NAME), now, params=outbox.say("max.dialog"),
                         dedupe=f"max-dialog:{person.id}:{now:%Y%m%d%H}")
    desk.wake_outbox()


def room_message(update: MaxUpdate, title: str = "") -> RoomMessage:
    return RoomMessage(channel=NAME, chat=update.chat, ref=update.ref, sender=update.sender or "",
                       sender_name=update.name, text=update.text, sent_at=update.sent_at, chat_title=title,
                       reply_to=update.reply_to, attachments=list(update.attachments), private=update.dialog)


async def title_of(bot: Bot, chat: str) -> str:
    """The chat's title, which MAX's message updates leave out (asked only when a chat is being bound)."""
    try:
        return (await bot.get_chat_by_id(int(chat))).title or ""
    except Exception:  # the binding does not depend on it: the card shows the chat's id instead
        return ""


def press_answer(bot: Bot, callback_id: str | None, text: str) -> FollowUp:
    """A press answered with a pop-up alone (the chat is unknown, or nothing is to be written there)."""
    async def follow_up() -> None:
        with contextlib.suppress(Exception):  # a press answered late is refused: nothing else to do
            await bot.send_callback(callback_id, notification=text[:200])
    return follow_up if callback_id is not None else None


def press_lang(update: MaxUpdate, chat, default: str) -> str:
    """The chat's language; without a chat (the message is gone), the presser's app language."""
    return of_chat_row(chat, default) if chat is not None else supported(update.lang) or default


def make_handle(bot: Bot, desk: Desk):
    async def answer(update: MaxUpdate, says: list[Say]) -> FollowUp:
        # Owed in the update's transaction (`chatroom.owe_answers`); only a chat without a conversation is
        # answered at once, after the commit.
        at_once = await owe_answers(NAME, update.chat, says, update.key, desk.now())
        if len(at_once) < len(says):
            desk.wake_outbox()
        callback_id = update.callback_id if update.kind == "button" else None

        async def follow_up() -> None:
            if callback_id is not None and says:  # the pressed button stops spinning, the result as its pop-up
                with contextlib.suppress(Exception):  # a press answered late is refused; the chat still hears
                    await bot.send_callback(callback_id, notification=says[0].text[:200])
            await answer_in_chat(bot, update.chat, at_once)
        return follow_up if says else None

    async def press(update: MaxUpdate, room: ChatRoom) -> FollowUp:
        """Every press is answered, so the person's button stops spinning. One whose message is gone (MAX then
        sends no message, so no chat) or in a private dialog (the desk puts no buttons there) cannot be honoured:
        its pop-up says so and nothing changes. One whose payload could not be read has none: not valid."""
        if update.chat is None or update.dialog:
            lang = press_lang(update, None, desk.settings.default_lang)
            return press_answer(bot, update.callback_id, t(lang, "gapsm.press_gone"))
        press = RoomPress(channel=NAME, chat=update.chat, sender=update.sender or "", sender_name=update.name,
                          data=update.payload or "")
        return await answer(update, await room.press(press))

    async def handle(update: MaxUpdate) -> FollowUp:
        room = ChatRoom(desk.for_update("", None, None, {}))
        if update.kind == "message" and update.dialog and update.chat is not None and update.sender is not None:
            code = chatroom.code_in(update.text)
            if code is not None and await invitations.kind_of(code) == invitations.LINK:
                # A staff member's `/link max` code, sent from their MAX account: the chat-room layer links it.
                return await answer(update, await room.message(room_message(update)))
        if (update.kind == "message" and update.dialog) or update.kind == "started":
            await dialog(update, desk)
            return None
        if update.kind == "button":
            return await press(update, room)
        if update.chat is None or update.dialog:
            return None
        if update.kind == "message" and update.sender is not None:
            code = chatroom.code_in(update.text)
            binding = code is not None and await invitations.kind_of(code) == NAME  # a code made for a MAX chat
            title = await title_of(bot, update.chat) if binding else ""
            return await answer(update, await room.message(room_message(update, title)))
        if update.kind == "edited" and update.ref is not None:  # the stored text (and title) follow, codes burnt
            return await answer(update, await room.edited(room_message(update)))
        if update.kind == "renamed":
            await chatroom.name_chat(NAME, update.chat, update.text, renamed=True)
        if update.kind == "added":  # put back in a chat: what is owed there goes there again
            await room.back(NAME, update.chat)
        return None  # the bot removed: a refused send says so (`handlers.max.channel`)
    return handle


def preview(payload: str) -> str:
    """What a set-aside update says, in short: a message's text, a button's payload, else its kind."""
    try:
        raw = json.loads(payload)
        if isinstance(raw.get("callback"), dict):
            said = f"payload {raw['callback'].get('payload')}"
        else:
            said = ((raw.get("message") or {}).get("body") or {}).get("text")
        return f"{raw.get('update_type')}: {said}"[:120] if isinstance(said, str) else str(raw.get("update_type"))
    except (ValueError, AttributeError, TypeError):
        return payload[:120]


def make_on_set_aside(bot: Bot, desk: Desk):
    """An update the desk set aside (`handlers.max.transport.set_aside`): each lead is told once, in the
    transaction that keeps it, naming the chat and why; a pressed button's pop-up says it could not be done."""
    async def on_set_aside(row: ParkedUpdate, update: MaxUpdate | None) -> FollowUp:
        chat = await conversation_of(NAME, str(row.chat_id)) if row.chat_id is not None else None
        where = str(row.chat_id) if row.chat_id is not None else "—"
        if chat is not None:
            where = f"{chat.customer.code} — {chat.customer.name} ({chat.title or where})"
        say = outbox.say("gapsm.max_set_aside", id=row.id, chat=where,
                         reason=outbox.word(f"liveness.reason_{row.reason}"), preview=preview(row.payload),
                         error=row.error.splitlines()[0][:300] if row.error else "—")
        for lead_id in await alerts.leads(desk.settings.lead_ids):
            await outbox.enqueue("notice", outbox.person(lead_id), row.parked_at, params=say,
                                 dedupe=f"parked:{row.id}:{lead_id}")
        desk.wake_outbox()
        if update is None or update.kind != "button":
            return None
        lang = press_lang(update, chat, desk.settings.default_lang)
        return press_answer(bot, update.callback_id, t(lang, "gapsm.press_failed"))
    return on_set_aside
