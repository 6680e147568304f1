"""Splitting command arguments; a wrong count is answered with the command's usage line."""

from __future__ import annotations

from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from domain.errors import DeskError
from domain.text import clean


def args_of(command: CommandObject) -> str:
    """The command's argument text, storable as it is (see domain.text)."""
    return clean(command.args or "")


def split(command: CommandObject, minimum: int, maximum: int | None = None, *, rest: bool = False) -> list[str]:
    """Words of the command's arguments.

    With `rest`, the last argument takes the remainder of the line (names, texts), so `maximum` words
    are returned at most and the last may contain spaces.
    """
    text = args_of(command).strip()
    words = text.split(maxsplit=maximum - 1) if rest and maximum else text.split()
    if len(words) < minimum or (maximum is not None and len(words) > maximum):
        raise DeskError(f"usage.{command.command.lower()}")
    return words


def looks_like_command(message: Message) -> bool:
    """A router of commands only filters on this first: one check per message instead of one per command.
    A forwarded message is no command (the permission gate in handlers/middlewares.py says the same)."""
    return message.forward_origin is None and (message.text or message.caption or "").startswith("/")


def cmd(name: str) -> Command:
    """A command filter that accepts any letter case and `@botusername`."""
    return Command(name, ignore_case=True)
