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
from collections.abc import Awaitable, Callable

from maxapi import Bot

from domain import chatroom, identities, intake, invitations, outbox
from handlers.chatroom import ChatRoom, RoomMessage, RoomPress, Say, owe_answers
from handlers.desk import Desk
from handlers.max.channel import answer_in_chat
from handlers.max.updates import NAME, MaxUpdate

FollowUp = Callable[[], Awaitable[None]] | None


async def dialog(update: MaxUpdate, desk: Desk) -> None:
    """A person wrote to the bot in private (or opened the dialog): MAX lets the bot answer them now. The desk
    takes requests in customers' group chats, and says so (at most once an hour)."""
    if update.sender is None:
        return
    now = desk.now()
    person = await identities.person_for(NAME, update.sender, now, update.name)
    await outbox.enqueue("notice", outbox.person(person.id, channel=NAME), now, params=outbox.say("max.dialog"),
                         dedupe=f"max-dialog:{person.id}:{now:%Y%m%d%H}")
    desk.wake_outbox()


def room_message(update: MaxUpdate, title: str = "") -> RoomMessage:
    return RoomMessage(channel=NAME, chat=update.chat, ref=update.ref, sender=update.sender or "",
                       sender_name=update.name, text=update.text, sent_at=update.sent_at, chat_title=title,
                       reply_to=update.reply_to, attachments=list(update.attachments))


async def title_of(bot: Bot, chat: str) -> str:
    """The chat's title, which MAX's message updates leave out (asked only when a chat is being bound)."""
    try:
        return (await bot.get_chat_by_id(int(chat))).title or ""
    except Exception:  # the binding does not depend on it: the card shows the chat's id instead
        return ""


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
        if update.chat is None or update.dialog:
            return None
        if update.kind == "message" and update.sender is not None:
            code = chatroom.code_in(update.text)
            binding = code is not None and await invitations.kind_of(code) == NAME  # a code made for a MAX chat
            title = await title_of(bot, update.chat) if binding else ""
            return await answer(update, await room.message(room_message(update, title)))
        if update.kind == "button" and update.sender is not None:
            press = RoomPress(channel=NAME, chat=update.chat, sender=update.sender, sender_name=update.name,
                              data=update.payload or "")
            return await answer(update, await room.press(press))
        if update.kind == "edited" and update.ref is not None:  # the stored text (and title) follow
            await intake.record_edit(NAME, update.chat, update.ref, update.text, desk.now())
        return None  # the bot added or removed: nothing the desk keeps
    return handle
