"""Lead administration: customers, their chats, the unbound inbox, and staff.

The command table in `domain.access` already let only leads through; these handlers parse, call one
service and render the answer.
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import CommandObject
from aiogram.types import Message

from domain import customers, inbox, invitations, people
from domain.access import INVITABLE_ROLES, Role
from domain.errors import Counted, DeskError, Named
from domain.identities import CHANNELS, EMAIL, TELEGRAM
from domain.models import Customer, Person
from handlers import chatroom
from handlers.args import cmd, conversation_refs, customer_value, email_binding, looks_like_command, split
from handlers.common import privacy_warning
from handlers.desk import Desk
from handlers.formatting import zone_of
from handlers.menus import set_person_menu
from handlers.replies import respond
from locales import format as fmt
from locales import named, t


def person_label(user_id: int | None, people_by_id: dict[int, Person]) -> str:
    if user_id is None:
        return "—"
    person = people_by_id.get(user_id)
    if person is None:
        return str(user_id)
    name = person.full_name or str(user_id)
    return f"{name} (@{person.username})" if person.username else f"{name} ({user_id})"


def conversation_label(chat) -> str:
    """A conversation as the card and `/unbound` show it: its address (what `/unbind CHANNEL REF` takes,
    to copy), and its title when that says more."""
    return f"{chat.title} ({chat.ref})" if chat.title and chat.title != chat.ref else chat.ref


def money(amount: float | None, currency: str, lang: str) -> str:
    if amount is None:
        return t(lang, "customer.no_price")
    return fmt.money(lang, amount, currency)


async def customer_add(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    code, plan, name = split(command, 3, 3, rest=True)
    customer = await customers.add_customer(code, plan, name, desk.now())
    await respond(message, t(lang, "customer.added", code=customer.code, name=customer.name,
                             plan=named(lang, "words.plan", customer.plan)))


async def customer_list(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    split(command, 0, 0)
    rows = await customers.list_customers()
    if not rows:
        await respond(message, t(lang, "customer.none"))
        return
    lines = [t(lang, "customer.list_header")]
    for c, open_count in rows:
        until = fmt.date(c.contract_until)
        lines.append(t(lang, "customer.list_row", code=c.code, name=c.name, plan=named(lang, "words.plan", c.plan),
                       open=open_count,
                       until=until))
    await respond(message, "\n".join(lines))


async def customer_card(customer: Customer, lang: str, desk: Desk, now) -> str:
    chats = await customers.conversations_of(customer)
    ids = [i for i in (customer.engineer_id,) if i]
    people_by_id = {p.id: p for p in await Person.filter(id__in=ids)}
    tariff = desk.settings.policy.tariff
    price = customers.price_estimate(tariff, customer.plan, customer.users, customer.cts, customer.ha)
    chat_lines = "\n".join(f"  • {c.channel}: {conversation_label(c)}" for c in chats) or "  —"
    contacts = "\n".join(f"  • {c}" for c in customer.contacts) or "  —"
    return t(
        lang, "customer.card",
        code=customer.code, name=customer.name, plan=named(lang, "words.plan", customer.plan),
        users=fmt.number(lang, customer.users), cts=customer.cts, ha=named(lang, "words.ha", customer.ha),
        tz=fmt.zone_name(lang, zone_of(customer, desk.settings), now),
        lang=named(lang, "words.lang", customer.lang or desk.settings.default_lang),
        report=named(lang, "words.report", customer.report), until=fmt.date(customer.contract_until),
        engineer=person_label(customer.engineer_id, people_by_id),
        contacts=contacts, chats=chat_lines,
        price=money(price, desk.settings.policy.tariff.currency, lang),
    )


async def customer_show(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    (code,) = split(command, 1, 1)
    customer = await customers.get_customer(code)
    await respond(message, await customer_card(customer, lang, desk, desk.now()))


async def customer_set(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    code, field, text = split(command, 3, 3, rest=True)
    field, text = customers.check_field(field), text.strip()
    if not text:
        raise DeskError("usage.customer_set")
    customer = await customers.get_customer(code)  # an unknown customer is named before a bad value
    if field == "email":  # binds a conversation (several may be) rather than setting a field
        ref, kind = email_binding(text)
        try:
            bound = await customers.bind_email(customer, ref, kind, actor.user_id, desk.now())
        except DeskError as error:
            if error.key != "err.already_bound":
                raise
            # "Send /unbind first" is said inside a group: for an address, say the command that unbinds it.
            raise DeskError("unbind.email_taken", ref=ref, code=error.params["code"],
                            command=f"/unbind {EMAIL} {ref}") from None
        head = t(lang, "email.bound", code=customer.code, ref=bound.ref)
    else:
        customer = await customers.set_field(customer, field, customer_value(field, text), desk.sla, desk.now())
        head = t(lang, "customer.updated", code=customer.code, field=field)
    await respond(message, head + "\n\n" + await customer_card(customer, lang, desk, desk.now()))


async def invite(message: Message, command: CommandObject, bot: Bot, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    code, *channel = split(command, 1, 2)
    if channel:  # a code to send in a group chat on another channel (eXpress, MAX)
        await respond(message, await chatroom.invite_text(code, channel[0], actor.user_id, desk))
        return
    customer, token = await customers.invite_chat(code, actor.user_id, desk.now())
    me = await bot.me()
    await respond(message, t(lang, "invite.chat", code=customer.code, name=customer.name,
                             link=f"https://t.me/{me.username}?startgroup={token}", token=token,
                             days=Counted("words.n.days", invitations.VALID_FOR.days)))


async def bind(message: Message, command: CommandObject, bot: Bot, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    (code,) = split(command, 1, 1)
    if message.chat.id == desk.settings.staff_chat_id:
        raise DeskError("err.staff_chat_not_customer")  # every customer's announcements land there
    chat = await customers.bind_by_code(code, TELEGRAM, str(message.chat.id), message.chat.title or "",
                                        message.chat.type, actor.user_id, desk.now())
    await respond(message, t(lang, "bind.done", code=chat.customer.code, name=chat.customer.name)
                  + await privacy_warning(bot, message.chat.id, lang))


def channel_on(settings, channel: str) -> bool:
    """Whether the desk takes customers' words on this channel (Telegram always)."""
    if channel == EMAIL:
        return settings.mail is not None
    return channel == TELEGRAM or chatroom.channel_on(settings, channel)


async def unbind(message: Message, command: CommandObject, desk: Desk) -> None:
    """`/unbind` in a group unbinds it; `/unbind CHANNEL REF` (where only staff read the answer, see
    `domain.access`) unbinds any customer's conversation, named as its card shows it."""
    lang = desk.lang
    words = split(command, 0, 2)
    if not words:
        customer = await customers.unbind(TELEGRAM, str(message.chat.id))
        await respond(message, t(lang, "bind.undone", code=customer.code))
        return
    channel = words[0].lower()
    if len(words) != 2 or channel not in CHANNELS:
        raise DeskError("usage.unbind")
    if not channel_on(desk.settings, channel):
        raise DeskError("chatroom.channel_off", channel=Named("desk.channel", channel))
    bots = tuple(str(a.bot_id) for a in desk.settings.express.accounts) if channel == "express" else ()
    refs = conversation_refs(channel, words[1], bots)
    released = None
    for ref in refs:  # one, but for an eXpress chat named without its bot: that chat under each bot
        released = await customers.release(channel, ref)
        if released is not None:
            break
    if released is None:
        raise DeskError("unbind.not_bound", channel=Named("desk.channel", channel),
                        ref=refs[0] if len(refs) == 1 else words[1], usage=Named("usage", "unbind"))
    chat, customer = released.conversation, released.customer
    text = t(lang, "unbind.done", channel=Named("desk.channel", channel), conversation=conversation_label(chat),
             code=customer.code, name=customer.name)
    if released.still_by_domain is not None:
        domain = released.still_by_domain
        text += "\n" + t(lang, "unbind.still_by_domain", code=domain.customer.code, domain=domain.ref,
                         command=f"/unbind {EMAIL} {domain.ref}")
    await respond(message, text)


async def unbound(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    split(command, 0, 0)
    now = desk.now()
    views = await inbox.unbound_inbox()
    if not views:
        await respond(message, t(lang, "unbound.empty"))
        return
    lines = [t(lang, "unbound.header")]
    for n, view in enumerate(views):
        if n and not view.messages and views[n - 1].messages:  # the rest: names and counts only
            lines += ["", t(lang, "mailfix.unbound_more", count=len(views) - n)]
        if view.messages:
            lines.append("")
        lines.append(t(lang, "unbound.chat", title=f"{view.chat.channel}: {view.chat.title or '—'}",
                       chat_id=view.chat.ref,  # with the channel, as `/unbind CHANNEL REF` takes them
                       messages=Counted("words.n.messages", view.total)))
        if view.bound_to:
            lines.append(t(lang, "unbound.now_bound", code=view.bound_to))
        for m in view.messages:
            when = fmt.local(m.received_at, desk.settings.timezone, now, lang=lang)
            body = m.text or t(lang, "unbound.attachment", kinds=", ".join(a["kind"] for a in m.attachments))
            lines.append(f"  {when} {m.author}: {body[:300]}")
    await respond(message, "\n".join(lines))


async def staff_invite(message: Message, command: CommandObject, bot: Bot, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    (role,) = split(command, 1, 1)
    role = role.lower()
    if role not in INVITABLE_ROLES:
        raise DeskError("err.bad_role", role=role, allowed=" ".join(INVITABLE_ROLES))
    token = await invitations.create("staff", actor.user_id, desk.now(), role=role)
    me = await bot.me()
    await respond(message, t(lang, "invite.staff", role=t(lang, f"role.{role}"),
                             link=f"https://t.me/{me.username}?start={token}", days=invitations.VALID_FOR.days))


async def staff_list(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    split(command, 0, 0)
    entries = await people.list_staff()
    lines = [t(lang, "staff.header")]
    for e in entries:
        name = e.name or str(e.user_id)
        handle = f" @{e.username}" if e.username else ""
        dm = t(lang, {True: "staff.dm_yes", False: "staff.dm_no", None: "staff.dm_unknown"}[e.can_dm])
        lines.append(t(lang, "staff.row", name=name, handle=handle, user_id=e.user_id,
                       role=t(lang, f"role.{e.role}"), dm=dm))
    await respond(message, "\n".join(lines))


async def staff_role(message: Message, command: CommandObject, bot: Bot, desk: Desk) -> None:
    lang = desk.lang
    ref, role = split(command, 2, 2)
    staff = await people.change_role(ref, role.lower(), desk.settings.lead_ids)
    await set_person_menu(bot, staff.user_id, Role(staff.role), lang)
    await respond(message, t(lang, "staff.role_changed", ref=ref, role=t(lang, f"role.{staff.role}")))


async def staff_remove(message: Message, command: CommandObject, bot: Bot, desk: Desk) -> None:
    lang = desk.lang
    (ref,) = split(command, 1, 1)
    staff, released = await people.remove_staff(ref, desk.settings.lead_ids, desk.now())
    await set_person_menu(bot, staff.user_id, Role.STRANGER, lang)
    text = t(lang, "staff.removed", ref=ref)
    if released:
        text += "\n" + t(lang, "staff.released", keys=", ".join(released))
    await respond(message, text)




def dates(days) -> str:
    return ", ".join(fmt.date(d) for d in sorted(days))


async def sla_policy(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    split(command, 0, 0)
    now = desk.now()
    policy = desk.sla.policy
    yes_no = {True: t(lang, "sla.yes"), False: t(lang, "sla.no")}
    lines = [t(lang, "sla.plans_header")]
    for plan in policy.plans.values():
        lines.append(t(lang, "sla.plan_row", plan=named(lang, "words.plan", plan.name),
                       calendar=named(lang, "words.calendar", plan.calendar), targets=fmt.targets(lang, plan.reaction),
                       remind=fmt.duration(lang, plan.remind_before), ping=yes_no[plan.ping]))
    lines += ["", t(lang, "sla.calendars_header")]
    for cal in policy.calendars.values():
        extras = []
        if cal.country_holidays:
            extras.append(t(lang, "sla.holidays", country=named(lang, "words.country", cal.country_holidays)))
        if cal.extra_holidays:
            extras.append(t(lang, "sla.extra_holidays", days=dates(cal.extra_holidays)))
        if cal.extra_workdays:
            extras.append(t(lang, "sla.extra_workdays", days=dates(cal.extra_workdays)))
        lines.append(t(lang, "sla.calendar_row", name=named(lang, "words.calendar", cal.name),
                       tz=fmt.zone_name(lang, cal.timezone, now), hours=fmt.hours(cal.hours),
                       days=fmt.weekdays(lang, cal.days), extras="; ".join(extras)).rstrip(" ;"))
    lines += ["", t(lang, "sla.escalation", every=fmt.duration(lang, policy.repeat_every),
                    times=Counted("words.n.times", policy.max_repeats)),
              "", t(lang, "sla.shifts_header")]
    for shift in policy.shifts.values():
        lines.append(t(lang, "sla.shift_row", name=named(lang, "words.shift", shift.name),
                       start=shift.start.strftime("%H:%M"), end=shift.end.strftime("%H:%M"),
                       tz=fmt.zone_label(lang, shift.timezone, now)))
    await respond(message, "\n".join(lines))


def build_router() -> Router:
    router = Router(name="lead_admin")
    router.message.filter(looks_like_command)
    router.message.register(customer_add, cmd("customer_add"))
    router.message.register(customer_list, cmd("customers"))
    router.message.register(customer_show, cmd("customer"))
    router.message.register(customer_set, cmd("customer_set"))
    router.message.register(invite, cmd("invite"))
    router.message.register(bind, cmd("bind"))
    router.message.register(unbind, cmd("unbind"))
    router.message.register(unbound, cmd("unbound"))
    router.message.register(staff_invite, cmd("staff_invite"))
    router.message.register(staff_list, cmd("staff"))
    router.message.register(staff_role, cmd("staff_role"))
    router.message.register(staff_remove, cmd("staff_remove"))
    router.message.register(sla_policy, cmd("sla"))
    return router
