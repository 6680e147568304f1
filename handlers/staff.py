"""Staff actions on incidents: /take /resolve /reopen /priority /assign /note /incident /incidents /my."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import Message

from domain import customers, incidents, people
from domain.customers import get_customer
from domain.errors import Counted, DeskError
from domain.identities import TELEGRAM, any_conversation
from domain.models import Incident
from handlers import chatroom, views
from handlers.args import args_of, cmd, looks_like_command
from handlers.chatroom import priority_changed_text
from handlers.desk import Desk
from handlers.pings import escalation_notice, reopened_notice, resolved_notice, taken_notice
from handlers.replies import respond
from locales import t


async def _by_key(key: str, only_chat: int | None) -> Incident:
    return await incidents.by_key(key, only_chat=only_chat)


async def _target(message: Message, words: list[str], only_chat: int | None) -> tuple[Incident, list[str]]:
    """Take a leading KEY off the words, or find the incident from the chat (reply, or its only open one)."""
    if words and incidents.looks_like_key(words[0]):
        return await _by_key(words[0], only_chat), words[1:]
    reply = str(message.reply_to_message.message_id) if message.reply_to_message else None
    here = await any_conversation(TELEGRAM, str(message.chat.id))
    return await incidents.target(None, here.id if here else None, reply), words


def _words(command: CommandObject) -> list[str]:
    return args_of(command).split()


async def _in_place(message: Message, incident: Incident) -> bool:
    """Typed where the incident lives (its chat, and its forum topic): there the answer itself tells the
    customer; anywhere else the customer's notice goes through the outbox to the incident's topic."""
    topic = str(message.message_thread_id) if message.is_topic_message and message.message_thread_id else None
    here = await any_conversation(TELEGRAM, str(message.chat.id))
    return here is not None and here.id == incident.conversation_id and topic == incident.topic


async def take(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang, only_chat, update_id = desk.lang, desk.only_chat, desk.update_id
    incident, rest = await _target(message, _words(command), only_chat)
    if rest:
        raise DeskError("usage.take")
    in_customer_chat = await _in_place(message, incident)  # there the answer below is the notice
    now = desk.now()
    owed = taken_notice(desk.settings, now, update_id, holder_id=actor.user_id, tell_customer=not in_customer_chat)
    result = await incidents.take(incident, actor.user_id, now, owed)
    if not result.taken:
        await respond(message, t(lang, "take.already", key=incident.key,
                                 name=await people.display_name(result.holder_id)))
        return
    # In the customer chat everyone reads the answer: it tells the customer, not the engineer.
    await respond(message, t(lang, "take.customer" if in_customer_chat else "take.done", key=incident.key))


async def resolve(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang, only_chat = desk.lang, desk.only_chat
    words = args_of(command).split(maxsplit=1)
    if words and incidents.looks_like_key(words[0]):
        incident, summary = await _by_key(words[0], only_chat), (words[1] if len(words) > 1 else "")
    else:
        incident, _ = await _target(message, [], only_chat)
        summary = args_of(command).strip()
    resolved = await incidents.resolve(incident, actor.user_id, summary, desk.now(),
                                       resolved_notice(desk.settings, desk.now(), summary))
    if await customers.chat_gone(resolved):  # the notice is not posted there: nobody was told
        await respond(message, t(lang, "unbind2.resolved_chat_gone", key=resolved.key))
    elif not await _in_place(message, resolved):
        await respond(message, t(lang, "resolve.done", key=resolved.key))


async def reopen(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang, only_chat = desk.lang, desk.only_chat
    words = _words(command)
    if len(words) != 1 or not incidents.looks_like_key(words[0]):
        raise DeskError("usage.reopen")
    incident = await incidents.reopen(await _by_key(words[0], only_chat), actor.user_id, desk.now(),
                                      reopened_notice(desk.settings, desk.now()))
    if not await _in_place(message, incident):
        await respond(message, t(lang, "reopen.done", key=incident.key))


async def priority(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang, only_chat = desk.lang, desk.only_chat
    incident, rest = await _target(message, _words(command), only_chat)
    if len(rest) != 1:
        raise DeskError("usage.priority")
    updated = await incidents.set_priority(incident, rest[0], actor.user_id, desk.now(), desk.sla)
    await respond(message, priority_changed_text(updated, lang, desk.settings, desk.now()))


async def assign(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang, only_chat = desk.lang, desk.only_chat
    words = _words(command)
    if len(words) != 2 or not incidents.looks_like_key(words[0]):
        raise DeskError("usage.assign")
    staff_id = await people.resolve_person(words[1])
    incident = await incidents.assign(await _by_key(words[0], only_chat), staff_id, actor.user_id, desk.now())
    await respond(message, t(lang, "assign.done", key=incident.key, name=await people.display_name(staff_id)))


async def note(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang, only_chat = desk.lang, desk.only_chat
    words = args_of(command).split(maxsplit=1)
    if len(words) != 2 or not incidents.looks_like_key(words[0]):
        raise DeskError("usage.note")
    incident = await _by_key(words[0], only_chat)
    await incidents.note(incident, words[1], actor.user_id, desk.now())
    await respond(message, t(lang, "note.done", key=incident.key))


async def escalate(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang, only_chat, update_id = desk.lang, desk.only_chat, desk.update_id
    words = args_of(command).split(maxsplit=2)
    if len(words) < 2 or not incidents.looks_like_key(words[0]):
        raise DeskError("usage.escalate")
    incident = await _by_key(words[0], only_chat)
    note_text = words[2] if len(words) > 2 else ""
    experts = await incidents.escalate(incident, words[1], note_text, actor.user_id, desk.now(),
                                       escalation_notice(incident, note_text, actor.user_id, desk.settings, desk.now(),
                                                         update_id))
    await respond(message, t(lang, "escalate.done", key=incident.key, count=Counted("words.n.people", len(experts)),
                             role=t(lang, f"role.{words[1].lower()}")))


# Staff-only entries of the history, left out of a card shown in the customer's chat.
INTERNAL_EVENTS = ("note", "escalated")


async def card(message: Message, command: CommandObject, desk: Desk) -> None:
    lang, only_chat = desk.lang, desk.only_chat
    words = _words(command)
    if len(words) != 1 or not incidents.looks_like_key(words[0]):
        raise DeskError("usage.incident")
    incident = await _by_key(words[0], only_chat)
    events, messages = await incidents.history(incident)
    if only_chat is not None:  # read by others than staff
        events = [e for e in events if e.kind not in INTERNAL_EVENTS]
    await respond(message, await views.card_text(incident, events, messages, lang, desk.settings.timezone, desk.now(),
                                                 desk.sla))


async def _listing(message: Message, found: list[Incident], lang: str, empty_key: str, now, desk: Desk) -> None:
    await respond(message, await views.listing_text(found, lang, desk.settings.timezone, now, empty_key))


async def open_list(message: Message, command: CommandObject, desk: Desk) -> None:
    lang, only_chat = desk.lang, desk.only_chat
    words = _words(command)
    if len(words) > 1:
        raise DeskError("usage.incidents")
    if only_chat is not None:  # e.g. a customer's chat: its own incidents, never the whole desk's
        if words:
            raise DeskError("access.list_here_only")
        await _listing(message, await incidents.in_chat(only_chat), lang, "list.none", desk.now(), desk)
        return
    if words:
        await get_customer(words[0])  # an unknown code is answered, not listed as empty
    found = await incidents.open_incidents(words[0] if words else None)
    await _listing(message, found, lang, "list.none", desk.now(), desk)


async def my_list(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang, only_chat = desk.lang, desk.only_chat
    if _words(command):
        raise DeskError("usage.my")
    found = await incidents.mine(actor.user_id, only_chat=only_chat)
    await _listing(message, found, lang, "list.none_mine", desk.now(), desk)


async def link(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    """`/link express`: a code that makes the staff member's eXpress (or MAX) account theirs."""
    words = args_of(command).split()
    if len(words) != 1:
        raise DeskError("usage.link")
    await respond(message, await chatroom.link_text(words[0], actor.user_id, desk))


def build_router() -> Router:
    router = Router(name="staff")
    router.message.filter(looks_like_command)
    router.message.register(take, cmd("take"))
    router.message.register(resolve, cmd("resolve"))
    router.message.register(reopen, cmd("reopen"))
    router.message.register(priority, cmd("priority"))
    router.message.register(assign, cmd("assign"))
    router.message.register(note, cmd("note"))
    router.message.register(escalate, cmd("escalate"))
    router.message.register(card, cmd("incident"))
    router.message.register(open_list, cmd("incidents"))
    router.message.register(my_list, cmd("my"))
    router.message.register(link, cmd("link"))
    return router
