"""/start (with invitation payloads), /help and /lang: for everyone."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from domain import customers, inbox, invitations, people
from domain.access import COMMANDS, Role, Where, commands_for
from domain.errors import DeskError
from domain.identities import TELEGRAM
from handlers.args import args_of, looks_like_command, split
from handlers.desk import Desk
from handlers.menus import set_person_menu
from handlers.replies import respond
from locales import t


def help_text(role: Role, lang: str, in_group: bool, desk: bool = True) -> str:
    """The commands this role may use here; `desk`: the chat is one where desk commands are answered."""
    lines = [t(lang, f"help.header_{role.value}")]
    for name in commands_for(role):
        where = COMMANDS[name].where
        if (where is Where.GROUP and not in_group) or (where is Where.PRIVATE and in_group):
            continue
        if (where is Where.DESK and not desk) or (where is Where.GROUP_OR_NAMED and not (in_group or desk)):
            continue
        lines.append(f"/{name} — {t(lang, f'help.{name}')}")
    return "\n".join(lines)


async def privacy_warning(bot: Bot, chat_id: int, lang: str) -> str:
    """Tell the lead to make the bot an admin when Telegram would hide group messages from it, and that
    messages written before the binding wait in /unbound (they are not lost, and not incidents yet)."""
    waiting = await inbox.waiting_in(TELEGRAM, str(chat_id))
    note = "\n\n" + t(lang, "bind.waiting", count=waiting) if waiting else ""
    me = await bot.me()
    if me.can_read_all_group_messages:
        return note
    member = await bot.get_chat_member(chat_id, me.id)
    if member.status in ("administrator", "creator"):
        return note
    return "\n\n" + t(lang, "bind.privacy_warning") + note


async def start(message: Message, command: CommandObject, bot: Bot, actor: people.Actor, desk: Desk) -> None:
    lang, only_chat = desk.lang, desk.only_chat
    now = desk.now()
    private = message.chat.type == "private"
    if private:
        await people.mark_dm(actor.user_id, True, now)
    payload = args_of(command).strip()
    if not payload:
        await respond(message, t(lang, "start.hello") + "\n\n"
                      + help_text(actor.role, lang, not private, only_chat is None))
        if private and actor.is_staff:
            await set_person_menu(bot, actor.user_id, actor.role, lang)
        return
    if not invitations.looks_like_token(payload):
        raise DeskError("err.invite_unknown")
    if private:
        staff = await people.join_staff(payload, actor.user_id, now)
        role = Role.LEAD if actor.user_id in desk.settings.lead_ids else Role(staff.role)
        await respond(message, t(lang, "start.joined", role=t(lang, f"role.{role.value}"))
                      + "\n\n" + help_text(role, lang, False))
        await set_person_menu(bot, actor.user_id, role, lang)
        return
    if message.chat.id == desk.settings.staff_chat_id:
        raise DeskError("err.staff_chat_not_customer")  # the link stays unused for the customer's group
    chat = await customers.bind_by_invitation(
        payload, TELEGRAM, str(message.chat.id), message.chat.title or "", message.chat.type, actor.user_id, now
    )
    await respond(message, t(lang, "bind.done", code=chat.customer.code, name=chat.customer.name)
                  + await privacy_warning(bot, message.chat.id, lang))


async def show_help(message: Message, actor: people.Actor, desk: Desk) -> None:
    lang, only_chat = desk.lang, desk.only_chat
    await respond(message, help_text(actor.role, lang, message.chat.type != "private", only_chat is None))


async def set_lang(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    (choice,) = split(command, 1, 1)
    lang, said = await people.choose_lang(actor, choice, desk.now())
    await respond(message, t(lang, said))


def build_router() -> Router:
    router = Router(name="common")
    router.message.filter(looks_like_command)
    router.message.register(start, CommandStart())
    router.message.register(show_help, Command("help", ignore_case=True))
    router.message.register(set_lang, Command("lang", ignore_case=True))
    return router
