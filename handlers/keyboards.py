"""Inline buttons and their callback data (aiogram CallbackData factories, validated on the way back)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from domain.policy import PRIORITIES
from locales import t


class PriorityButton(CallbackData, prefix="prio"):
    incident: int
    priority: str


class RateButton(CallbackData, prefix="rate"):
    incident: int
    stars: int


def priority_keyboard(incident_id: int, lang: str) -> InlineKeyboardMarkup:
    """The buttons say what each priority means, two to a row so the words fit."""
    builder = InlineKeyboardBuilder()
    for priority in PRIORITIES:
        builder.button(text=t(lang, f"words.button.{priority}"),
                       callback_data=PriorityButton(incident=incident_id, priority=priority))
    builder.adjust(2)
    return builder.as_markup()


def rating_keyboard(incident_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for stars in range(1, 6):
        builder.button(text="★" * stars, callback_data=RateButton(incident=incident_id, stars=stars))
    builder.adjust(5)
    return builder.as_markup()
