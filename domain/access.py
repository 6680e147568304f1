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
    # The answer shows customers' data, desk internals or secret links: only where no outsider reads it,
    # a private chat (not bound to a customer) or the staff chat (STAFF_CHAT_ID).
    DESK = "desk"
    # Without arguments, the group the command is sent in (as GROUP); with arguments, a conversation they
    # name on any channel, answered only where DESK commands are (the answer names its customer).
    GROUP_OR_NAMED = "group_or_named"


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
    # staff; in a customer's chat the incident commands touch only that chat's incidents (handlers/staff.py)
    "take": CommandRule(STAFF),
    "resolve": CommandRule(STAFF),
    "reopen": CommandRule(STAFF),
    "priority": CommandRule(STAFF),
    "assign": CommandRule(STAFF),
    "note": CommandRule(STAFF),
    "incident": CommandRule(STAFF),
    "incidents": CommandRule(STAFF),
    "my": CommandRule(STAFF),
    "oncall": CommandRule(STAFF, Where.DESK),
    "schedule": CommandRule(STAFF, Where.DESK),
    "escalate": CommandRule(STAFF),
    # an answer to the customer from the staff member's own chat with the bot, on any channel (handlers/reply.py)
    "reply": CommandRule(STAFF, Where.PRIVATE),
    # a code that links the staff member's account on a chat-room channel (eXpress, MAX): personal
    "link": CommandRule(STAFF, Where.PRIVATE),
    # leads: customers, chats, staff
    "customer_add": CommandRule(LEADS, Where.DESK),
    "customers": CommandRule(LEADS, Where.DESK),
    "customer": CommandRule(LEADS, Where.DESK),
    "customer_set": CommandRule(LEADS, Where.DESK),
    "invite": CommandRule(LEADS, Where.DESK),
    "bind": CommandRule(LEADS, Where.GROUP),
    "unbind": CommandRule(LEADS, Where.GROUP_OR_NAMED),
    "unbound": CommandRule(LEADS, Where.DESK),
    "staff_invite": CommandRule(LEADS, Where.DESK),
    "staff": CommandRule(LEADS, Where.DESK),
    "staff_role": CommandRule(LEADS, Where.DESK),
    "staff_remove": CommandRule(LEADS, Where.DESK),
    "sla": CommandRule(LEADS, Where.DESK),
    "rotation": CommandRule(LEADS, Where.DESK),
    "override": CommandRule(LEADS, Where.DESK),
    "overrides": CommandRule(LEADS, Where.DESK),
    "override_remove": CommandRule(LEADS, Where.DESK),
    "report": CommandRule(LEADS, Where.DESK),
    "sla_report": CommandRule(LEADS, Where.DESK),
    "export": CommandRule(LEADS, Where.DESK),
    "quote": CommandRule(LEADS, Where.DESK),
    "announce": CommandRule(LEADS, Where.DESK),
    # leads: updates the desk could not handle (domain.parked); they hold customers' raw texts
    "parked": CommandRule(LEADS, Where.DESK),
    "replay": CommandRule(LEADS, Where.DESK),
    "dismiss": CommandRule(LEADS, Where.DESK),
    # the desk page (domain.desk_page): a sign-in link is personal, so it is given in a private chat only
    "desk": CommandRule(STAFF, Where.PRIVATE),
    "wallboard": CommandRule(LEADS, Where.DESK),
    "wallboard_revoke": CommandRule(LEADS, Where.DESK),
}


def check(command: str, role: Role, chat_kind: str, chat_bound: bool, staff_chat: bool = False,
          has_args: bool = False) -> str | None:
    """None when allowed, else the catalog key of the refusal; `has_args`: the command has arguments."""
    rule = COMMANDS[command]
    if role not in rule.who:
        return "refuse.role_customer" if role in (Role.CUSTOMER, Role.STRANGER) else "refuse.role"
    if rule.where is Where.PRIVATE and chat_kind != "private":
        return "refuse.private_only"
    if rule.where is Where.GROUP and chat_kind == "private":
        return "refuse.group_only"
    if rule.where is Where.CUSTOMER_CHAT and not chat_bound:
        return "refuse.customer_chat_only"
    if rule.where is Where.DESK and not desk_chat(chat_kind, chat_bound, staff_chat):
        return "access.desk_only"
    if rule.where is Where.GROUP_OR_NAMED:
        if not has_args:
            return "refuse.group_only" if chat_kind == "private" else None
        if not desk_chat(chat_kind, chat_bound, staff_chat):
            return f"usage.{command}"  # only the form without arguments works here; the usage says where the other does
    return None


def desk_chat(chat_kind: str, chat_bound: bool, staff_chat: bool) -> bool:
    """Whether desk commands are answered in this chat: nobody but staff reads it."""
    return staff_chat or (chat_kind == "private" and not chat_bound)


def commands_for(role: Role) -> list[str]:
    """The commands a person of this role may use somewhere, in table order (for /help and menus)."""
    return [name for name, rule in COMMANDS.items() if role in rule.who]
