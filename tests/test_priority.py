"""Priority keywords match whole words; a keyword ending in * matches words that start with it."""

import pytest

from domain.policy import load_policy
from domain.priority import classify

RULES = load_policy(None).priority_rules


@pytest.mark.parametrize(("text", "priority"), [
    # "down" is a word, not a substring
    ("Cannot download the invoice", "P3"),
    ("The dropdown in settings is empty", "P3"),
    ("Planned shutdown tonight, anything to prepare?", "P3"),
    ("Breakdown of costs in the report looks odd", "P3"),
    ("The portal is down", "P1"),
    ("DOWN since 9:00", "P1"),
    ("down.", "P1"),
    ("(down)", "P1"),
    # stems: недоступ*, упал*, авари*
    ("Сервер недоступен с утра", "P1"),
    ("Система недоступна", "P1"),
    ("Всё упало", "P1"),
    ("упала база", "P1"),
    ("Авария на площадке", "P1"),
    ("Аварийное отключение", "P1"),
    # a stem still starts at a word boundary
    ("Мы выпали из расписания", "P3"),
    # phrases: words in order, any whitespace between them
    ("Ничего не работает у  всех\nпользователей", "P1"),
    ("Отчёт не работает", "P2"),
    ("Раскрывающийся список не работает", "P2"),
    ("Export fails with an error", "P2"),
    ("Errors everywhere", "P3"),  # "error" is a whole word; "errors" is not it
    ("A question about reports", "P4"),
    ("Подскажите, как настроить выгрузку", "P4"),
    ("How to export?", "P4"),
    ("Nothing in particular", "P3"),
])
def test_default_rules(text, priority):
    assert classify(text, RULES) == priority


def test_policy_keywords_follow_the_same_rule():
    rules = {"P1": ("crash*", "all users"), "P2": ("slow",), "P4": ("c++",)}
    assert classify("It crashes on start", rules) == "P1"
    assert classify("The crash reporter is slow", rules) == "P1"
    assert classify("A slowdown", rules) == "P3"
    assert classify("ALL   USERS are affected", rules) == "P1"
    assert classify("smallusers", rules) == "P3"
    assert classify("The c++ SDK question", rules) == "P4"
    assert classify("It is slow.", rules) == "P2"
