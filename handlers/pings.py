"""What the desk owes people about incidents, rendered for Telegram: ping DMs with the Take button,
the staff-chat announcement, the lead notice of an ended contract, and notices to the customer chat.

Everything here goes through the outbox. The scheduler gets `render_ping` from the composition root,
so its reminders look exactly like the first ping.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

from domain import alerts, incidents, intake, outbox, people
from domain.channels import TELEGRAM
from domain.errors import DeskError
from domain.lang import of_conversation as lang_of_conversation
from domain.lang import of_person as lang_of_person
from domain.lang import of_recipient as lang_of_recipient
from domain.models import Conversation, Incident, IncidentMessage
from domain.sla import Sla
from handlers.desk import Desk
from handlers.formatting import zone_of
from handlers.keyboards import priority_keyboard, rating_keyboard
from locales import format as fmt
from locales import named, t

FIRST_LINES = 3
PREVIEW = 300


class TakeButton(CallbackData, prefix="take"):
    incident: int


def message_link_of(message: IncidentMessage | None) -> str | None:
    """A link to a stored message (its conversation loaded) when Telegram can show one."""
    if message is None or message.conversation.channel != TELEGRAM:
        return None
    return message_link(int(message.conversation.ref), int(message.ref))


async def telegram_chat_of(incident: Incident) -> int:
    """The Telegram chat of the incident's conversation, where its notices go (the outbox still addresses
    Telegram chats)."""
    conversation = await Conversation.get(id=incident.conversation_id)
    return int(conversation.ref)


def topic_of(incident: Incident) -> int | None:
    return int(incident.topic) if incident.topic else None


def message_link(chat_id: int, message_id: int | None) -> str | None:
    """A t.me link to a message of a supergroup (basic groups and private chats have none)."""
    text = str(chat_id)
    if message_id is None or not text.startswith("-100"):
        return None
    return f"https://t.me/c/{text[4:]}/{message_id}"


def ping_text(kind: str, incident: Incident, lang: str, now: datetime, zone, target, first, more: int) -> str:
    """How bad and whose (the first line), by when (the absolute moment and the fixed target: nothing
    updates a pushed message), what (the customer's words), who wrote it and how many messages followed,
    and what Take does."""
    plan = named(lang, "words.plan", incident.plan)
    lines = [t(lang, f"ping.{kind}", key=incident.key, priority=incident.priority, name=incident.customer.name,
               plan=plan)]
    due = "words.ping.due" if kind in ("new", "reminder") else "words.ping.was_due"
    lines.append(t(lang, due, deadline=fmt.when(lang, incident.deadline, zone, now),
                   target=fmt.duration(lang, target)))
    problem = "\n".join((first.text if first and first.text else incident.title).splitlines()[:FIRST_LINES])
    lines += ["", t(lang, "words.ping.problem", problem=problem[:PREVIEW] or "—")]
    author = first.author if first and first.author else None
    if author:
        lines.append(t(lang, "words.ping.more", author=author, count=more) if more
                     else t(lang, "words.ping.author", author=author))
    lines += ["", t(lang, "words.ping.take_hint")]
    return "\n".join(lines)


def make_render(settings):
    sla = Sla(settings.policy)

    async def render_ping(ping: alerts.Ping, now: datetime) -> tuple[str, dict | None]:
        incident = ping.incident
        lang = await lang_of_person(ping.user_id, settings.default_lang)
        first = await intake.first_customer_message(incident.id)
        more = max(await intake.customer_message_count(incident.id) - 1, 0)
        target = sla.target(incident.plan, incident.priority)
        text = ping_text(ping.kind, incident, lang, now, settings.timezone, target, first, more)
        rows = [[InlineKeyboardButton(text=t(lang, "ping.take"),
                                      callback_data=TakeButton(incident=incident.id).pack())]]
        link = message_link_of(first)
        if link:
            rows[0].append(InlineKeyboardButton(text=t(lang, "ping.open"), url=link))
        return text, InlineKeyboardMarkup(inline_keyboard=rows).model_dump(exclude_none=True)
    return render_ping


def ack_text(incident: Incident, lang: str, sla: Sla, settings, now: datetime | None = None) -> str:
    """What we received, how urgent, by when we answer (in the customer's time and as the fixed target),
    where to add details, and what the buttons do."""
    now = now or incident.opened_at
    zone = zone_of(incident.customer, settings)
    lines = [t(lang, "intake.ack", key=incident.key, priority=incident.priority,
               meaning=t(lang, f"priority.{incident.priority}"))]
    timing = sla.timing(incident.plan, incident.priority, incident.opened_at)
    target = fmt.duration(lang, sla.target(incident.plan, incident.priority))
    if timing.clock_starts > incident.opened_at:
        lines.append(t(lang, "intake.clock_starts", start=fmt.when(lang, timing.clock_starts, zone, now)))
        target = t(lang, "words.ack.working", target=target)
    lines.append(t(lang, "intake.deadline", deadline=fmt.when(lang, timing.deadline, zone, now), target=target))
    if incident.plan == "warranty":
        lines.append(t(lang, "intake.warranty"))
    lines += ["", t(lang, "words.ack.details"), t(lang, "words.ack.buttons")]
    return "\n".join(lines)


def make_staff_notices(settings, sla: Sla):
    """What a new incident owes the staff, whatever channel it came by: the staff chat's announcement, the
    leads' word on an ended contract, and the on-call pings."""
    render = make_render(settings)

    async def staff_notices(incident: Incident, now: datetime) -> None:
        lang = settings.default_lang
        if settings.staff_chat_id:
            await outbox.enqueue(settings.staff_chat_id, t(lang, "intake.announce", key=incident.key,
                                 name=incident.customer.name, plan=named(lang, "words.plan", incident.plan),
                                 priority=incident.priority,
                                 title=incident.title), now, kind="announce", dedupe=f"announce:{incident.id}")
        if incident.contract_expired:
            for lead_id in await alerts.leads(settings.lead_ids):
                await outbox.enqueue(lead_id, t(await lang_of_person(lead_id, lang), "intake.expired_lead",
                                     key=incident.key, code=incident.customer.code,
                                     until=fmt.date(incident.customer.contract_until)),
                                     now, kind="notice", dedupe=f"expired:{incident.id}:{lead_id}")
        await alerts.on_new_incident(incident, now, sla, settings.policy.shifts, settings.lead_ids, render)
    return staff_notices


def make_on_created(settings, sla: Sla):
    """Called inside intake's transaction when a message opened an incident: the notices are owed
    together with the incident, or not at all."""
    staff_notices = make_staff_notices(settings, sla)

    async def on_created(incident: Incident, message_ref: str, now: datetime) -> None:
        # The acknowledgement first: it replies to the customer's message and carries the P1–P4 buttons.
        chat_lang = await customer_lang(incident, settings.default_lang)
        await outbox.enqueue(await telegram_chat_of(incident), ack_text(incident, chat_lang, sla, settings, now),
                             now, kind="ack", rank=outbox.RANK_PING, reply_to=int(message_ref),
                             incident_id=incident.id,
                             markup=priority_keyboard(incident.id, chat_lang).model_dump(exclude_none=True),
                             dedupe=f"ack:{incident.id}", thread_id=topic_of(incident))
        await staff_notices(incident, now)
    return on_created


async def customer_lang(incident: Incident, default: str) -> str:
    """The language of the incident's chat (`domain.lang`)."""
    return await lang_of_conversation(incident.conversation_id, default)


async def tell_customer_chat(incident: Incident, text: str, now: datetime, kind: str,
                             markup: InlineKeyboardMarkup | None = None, dedupe: str | None = None) -> None:
    """A notice about the incident in its chat, in its forum topic when it has one (not in General)."""
    await outbox.enqueue(await telegram_chat_of(incident), text, now, kind=kind, incident_id=incident.id,
                         dedupe=dedupe, markup=markup.model_dump(exclude_none=True) if markup else None,
                         thread_id=topic_of(incident))


def taken_notice(settings, now: datetime, update_id: int | None = None, holder_id: int | None = None,
                 tell_customer: bool = True):
    """The customer chat hears that an engineer is on it (once per update, however often a failing answer
    makes it be handled again), and (given the holder) every copy of the ping says who took it: owed inside
    the take's transaction, so both happen with the take or not at all."""
    async def owe(incident: Incident) -> None:
        if tell_customer:
            lang = await customer_lang(incident, settings.default_lang)
            await tell_customer_chat(incident, t(lang, "take.customer", key=incident.key), now, "customer",
                                     dedupe=f"taken:{incident.id}:u{update_id}" if update_id is not None else None)
        if holder_id is not None:
            await edit_pings(incident, holder_id, settings, now)
    return owe


def resolved_notice(settings, now: datetime, summary: str):
    """The customer chat gets the summary and the rating buttons (owed inside the resolve's transaction)."""
    async def owe(incident: Incident) -> None:
        lang = await customer_lang(incident, settings.default_lang)
        text = t(lang, "resolve.customer", key=incident.key, summary=summary or t(lang, "resolve.no_summary"))
        await tell_customer_chat(incident, text, now, "customer", rating_keyboard(incident.id))
    return owe


def reopened_notice(settings, now: datetime):
    """The customer chat hears that staff reopened the incident (owed inside the reopen's transaction)."""
    async def owe(incident: Incident) -> None:
        lang = await customer_lang(incident, settings.default_lang)
        await tell_customer_chat(incident, t(lang, "intake.reopened", key=incident.key), now, "customer")
    return owe


def escalation_notice(incident: Incident, note: str, actor_id: int, settings, now: datetime,
                      update_id: int | None = None):
    """The expert's DM: the incident card in short, the note, who asked, and a link to the chat. Keyed
    by the update, not the clock: a retried /escalate DMs nobody twice."""
    async def owe(user_id: int) -> None:
        lang = await lang_of_person(user_id, settings.default_lang)
        first = await intake.first_customer_message(incident.id)
        link = message_link_of(first)
        text = t(lang, "escalate.dm", key=incident.key, name=incident.customer.name,
                 plan=named(lang, "words.plan", incident.plan),
                 priority=incident.priority, status=t(lang, f"state.{incident.status}"), title=incident.title,
                 note=note or "—", who=await people.display_name(actor_id), link=link or "—")
        await outbox.enqueue(user_id, text, now, kind="escalation", incident_id=incident.id, fallback=True,
                             dedupe=f"escalation:{incident.id}:{user_id}:"
                                    + (f"u{update_id}" if update_id is not None else now.isoformat()))
    return owe


async def edit_pings(incident: Incident, holder_id: int, settings, now: datetime) -> int:
    """Every copy of the incident's ping (new, reminder, breach, repeat; rerouted ones too) is rewritten
    to say who has it and since when, and loses its Take button, so nobody else gets up for it."""
    rows = await outbox.sent_pings(incident.id)
    name = await people.display_name(holder_id)
    for row in rows:
        lang = await lang_of_recipient(TELEGRAM, row.chat_id, settings.default_lang)
        taken = t(lang, "words.ping.taken", name=name, at=fmt.when(lang, now, settings.timezone, now))
        links = [[b for b in r if b.get("url")] for r in (row.markup or {}).get("inline_keyboard", [])]
        links = [r for r in links if r]
        hint = t(lang, "words.ping.take_hint")  # what Take does is moot now: the line says who took it
        text = row.text.replace(hint, taken) if hint in row.text else f"{row.text}\n\n{taken}"
        await outbox.enqueue(row.chat_id, text, now, kind=outbox.EDIT, rank=outbox.RANK_PING,
                             reply_to=row.message_id, incident_id=incident.id,
                             markup={"inline_keyboard": links} if links else None, dedupe=f"edit:{row.id}")
    return len(rows)


async def take_pressed(query: CallbackQuery, callback_data: TakeButton, actor: people.Actor, desk: Desk) -> None:
    lang, update_id = desk.lang, desk.update_id
    if not actor.is_staff:
        raise DeskError("err.take_staff_only")
    incident = await Incident.get_or_none(id=callback_data.incident).select_related("customer")
    if incident is None:
        raise DeskError("err.button_stale")
    result = await incidents.take(incident, actor.user_id, desk.now(),
                                  taken_notice(desk.settings, desk.now(), update_id, holder_id=actor.user_id))
    if not result.taken:
        await query.answer(t(lang, "take.already", key=incident.key,
                             name=await people.display_name(result.holder_id)), show_alert=True)
        return
    await query.answer(t(lang, "take.done", key=incident.key))


def build_router() -> Router:
    router = Router(name="pings")
    router.callback_query.register(take_pressed, TakeButton.filter())
    return router
