"""Packages imported on first use, not at start (start-up time and memory: the first update needs none of
them), yet looked for at start all the same: a missing one shows at `python -m bot check-config` and when
the bot starts, not at 3 a.m. when the first chart is drawn or the first mail arrives."""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from bot.settings import Settings


def needed(settings: Settings) -> dict[str, str]:
    """Each package imported lazily that these settings will use, and what for. (`holidays` is imported
    when the policy is loaded if a calendar names a country: its codes are checked then.)"""
    needs = {"jinja2": "the desk page", "matplotlib": "report charts"}
    if settings.database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        needs["asyncpg"] = "PostgreSQL"
    if settings.mail is not None:
        needs.update(aioimaplib="e-mail intake", aiosmtplib="e-mail replies")
    if settings.express is not None:
        needs["pybotx"] = "eXpress"
    if settings.max is not None:
        needs["maxapi"] = "MAX"
    return needs


def missing(settings: Settings, find: Callable[[str], Any] | None = None) -> list[str]:
    """`package (what for)` for each needed package that is not installed; finding one imports nothing."""
    find = find or find_spec
    return [f"{name} ({why})" for name, why in needed(settings).items() if find(name) is None]
