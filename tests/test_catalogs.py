"""Both catalogs hold every message id with the same placeholders, and every id the code uses exists."""

import re
import string
from pathlib import Path

from domain.access import COMMANDS, Role
from locales import LANGS, catalog

ROOT = Path(__file__).resolve().parent.parent


def placeholders(entry) -> set[str]:
    """The placeholders of a text, or of every form of a plural table together (a form may leave out
    `{count}`, as in «один день»; a plural table always takes `count`)."""
    texts = entry.values() if isinstance(entry, dict) else [entry]
    found = {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name}
    return found | {"count"} if isinstance(entry, dict) else found


def test_same_keys_and_placeholders_in_every_language():
    ru, en = catalog("ru"), catalog("en")
    assert set(ru) == set(en), f"only in ru: {set(ru) - set(en)}; only in en: {set(en) - set(ru)}"
    for key in en:
        assert placeholders(ru[key]) == placeholders(en[key]), key


def keys_used_in_code() -> set[str]:
    pattern = re.compile(r"""(?:\bt\(\s*\w+,\s*|DeskError\(\s*|refusal\s*=\s*|return\s+)f?["']([a-z_]+\.[a-z_]+)["']""")
    used = set()
    for folder in ("bot", "domain", "handlers", "scheduler"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(pattern.findall(path.read_text()))
    return used


def test_every_key_used_in_code_exists():
    used = keys_used_in_code()
    assert len(used) > 40, "the scan found too few keys: the pattern is broken"
    missing = {k for k in used if not k.endswith("_")} - set(catalog("en"))  # prefixes are checked below
    assert not missing, f"missing from the catalogs: {sorted(missing)}"


# Keys the code builds from a prefix and a value: every value the models allow (their field comments).
PREFIXED = {"err.invite_wrong_place_": ("Invitation", "kind"), "card.source_": ("IncidentMessage", "source")}


def test_every_key_built_from_a_prefix_exists():
    from domain import models

    prefixes = {k for k in keys_used_in_code() if k.endswith("_")}
    assert prefixes == set(PREFIXED), "a new prefix: say where its values come from"
    source = (ROOT / "domain" / "models.py").read_text()
    for prefix, (model, field) in PREFIXED.items():
        assert hasattr(models, model)
        comment = re.search(rf"class {model}\b.*?\n    {field} = fields\.\w+\([^)]*\)  # ([a-z |]+)", source, re.S)
        values = set(re.findall(r"[a-z]+", comment.group(1)))
        assert len(values) >= 2, (prefix, values)
        for lang in LANGS:
            assert {f"{prefix}{value}" for value in values} <= set(catalog(lang)), (lang, prefix, values)


def test_every_command_has_help_usage_and_role_names():
    for lang in LANGS:
        texts = catalog(lang)
        for name in COMMANDS:
            assert f"help.{name}" in texts and f"usage.{name}" in texts, (lang, name)
        for role in Role:
            assert f"role.{role.value}" in texts and f"help.header_{role.value}" in texts
        for key in ("refuse.role", "refuse.role_customer", "refuse.group_only", "refuse.private_only",
                    "refuse.customer_chat_only", "err.invite_wrong_place_staff", "err.invite_wrong_place_chat"):
            assert key in texts


def test_menu_descriptions_fit_telegram_limits():
    for lang in LANGS:
        for name in COMMANDS:
            assert 3 <= len(catalog(lang)[f"help.{name}"]) <= 256
