"""Command menus per role and language (setMyCommands), so each person sees what they may run."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
)

from domain.access import COMMANDS, Role, Where, commands_for
from locales import LANGS, t

log = logging.getLogger(__name__)


def _menu(role: Role, lang: str, private: bool) -> list[BotCommand]:
    names = [
        name for name in commands_for(role)
        if (COMMANDS[name].where is not Where.GROUP or not private)
        and (COMMANDS[name].where is not Where.PRIVATE or private)
    ]
    return [BotCommand(command=name, description=t(lang, f"help.{name}")[:256]) for name in names]


async def set_default_menus(bot: Bot, default_lang: str) -> None:
    """Strangers in private see /start /help /lang; groups see the customer's commands.

    Each language is set for its own code, and the default language also for every other code.
    """
    targets = [(lang, lang) for lang in LANGS] + [(default_lang, None)]
    try:
        for lang, code in targets:
            await bot.set_my_commands(_menu(Role.STRANGER, lang, True), BotCommandScopeDefault(), code)
            await bot.set_my_commands(_menu(Role.CUSTOMER, lang, False), BotCommandScopeAllGroupChats(), code)
    except TelegramAPIError as exc:
        log.warning("could not set the default command menus: %s", exc)


async def set_person_menu(bot: Bot, user_id: int, role: Role, lang: str) -> None:
    """A staff member's private chat shows the commands of their role."""
    try:
        await bot.set_my_commands(_menu(role, lang, True), BotCommandScopeChat(chat_id=user_id))
    except TelegramAPIError as exc:
        # A person who never opened the bot has no private chat yet; the menu is set when they do.
        log.info("no command menu for user %s: %s", user_id, exc)
