"""Who may run what, and where: the one table every command is checked against.

A command that is not in `COMMANDS` is unknown to the bot; a command that is in it runs only for the
audiences and chat kinds listed. The gate in `handlers/middlewares.py` applies this table before any
handler is called, so a new handler cannot forget its role check.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    LEAD = "lead"
    ENGINEER = "engineer"
    ARCHITECT = "architect"
    DEVELOPER = "developer"
    CUSTOMER = "customer"  # a non-staff person writing in a bound customer chat
    STRANGER = "stranger"  # anyone else


STAFF_ROLES = (Role.LEAD, Role.ENGINEER, Role.ARCHITECT, Role.DEVELOPER)
INVITABLE_ROLES = tuple(r.value for r in STAFF_ROLES)

ANYONE = frozenset(Role)
STAFF = frozenset(STAFF_ROLES)
LEADS = frozenset({Role.LEAD})
IN_CUSTOMER_CHAT = frozenset({Role.CUSTOMER, *STAFF_ROLES})


class Where(StrEnum):
    ANY = "any"
    PRIVATE = "private"
    GROUP = "group"  # group, supergroup or forum
    CUSTOMER_CHAT = "customer_chat"  # a chat bound to a customer, private or group


@dataclass(frozen=True)
class CommandRule:
    who: frozenset[Role]
    where: Where = Where.ANY


COMMANDS: dict[str, CommandRule] = {
    # anyone
    "start": CommandRule(ANYONE),
    "help": CommandRule(ANYONE),
    "lang": CommandRule(ANYONE),
    # customers, in their chat (staff may use them there too)
    "new": CommandRule(IN_CUSTOMER_CHAT, Where.CUSTOMER_CHAT),
    "status": CommandRule(IN_CUSTOMER_CHAT, Where.CUSTOMER_CHAT),
    # staff
    "take": CommandRule(STAFF),
    "resolve": CommandRule(STAFF),
    "reopen": CommandRule(STAFF),
    "priority": CommandRule(STAFF),
    "assign": CommandRule(STAFF),
    "note": CommandRule(STAFF),
    "incident": CommandRule(STAFF),
    "incidents": CommandRule(STAFF),
    "my": CommandRule(STAFF),
    "oncall": CommandRule(STAFF),
    "schedule": CommandRule(STAFF),
    "escalate": CommandRule(STAFF),
    # leads: customers, chats, staff
    "customer_add": CommandRule(LEADS),
    "customers": CommandRule(LEADS),
    "customer": CommandRule(LEADS),
    "customer_set": CommandRule(LEADS),
    "invite": CommandRule(LEADS),
    "bind": CommandRule(LEADS, Where.GROUP),
    "unbind": CommandRule(LEADS, Where.GROUP),
    "unbound": CommandRule(LEADS),
    "staff_invite": CommandRule(LEADS),
    "staff": CommandRule(LEADS),
    "staff_role": CommandRule(LEADS),
    "staff_remove": CommandRule(LEADS),
    "sla": CommandRule(LEADS),
    "rotation": CommandRule(LEADS),
    "override": CommandRule(LEADS),
    "overrides": CommandRule(LEADS),
    "override_remove": CommandRule(LEADS),
    "report": CommandRule(LEADS),
    "sla_report": CommandRule(LEADS),
    "export": CommandRule(LEADS),
    "quote": CommandRule(LEADS),
    "announce": CommandRule(LEADS),
    # leads: updates the desk could not handle (domain.parked)
    "parked": CommandRule(LEADS),
    "replay": CommandRule(LEADS),
    "dismiss": CommandRule(LEADS),
}


def check(command: str, role: Role, chat_kind: str, chat_bound: bool) -> str | None:
    """None when allowed, else the catalog key of the refusal."""
    rule = COMMANDS[command]
    if role not in rule.who:
        return "refuse.role_customer" if role in (Role.CUSTOMER, Role.STRANGER) else "refuse.role"
    if rule.where is Where.PRIVATE and chat_kind != "private":
        return "refuse.private_only"
    if rule.where is Where.GROUP and chat_kind == "private":
        return "refuse.group_only"
    if rule.where is Where.CUSTOMER_CHAT and not chat_bound:
        return "refuse.customer_chat_only"
    return None


def commands_for(role: Role) -> list[str]:
    """The commands a person of this role may use somewhere, in table order (for /help and menus)."""
    return [name for name, rule in COMMANDS.items() if role in rule.who]
