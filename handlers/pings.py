"""What the desk owes people about incidents: ping DMs with the Take button, the staff-chat
announcement, the lead notice of an ended contract, and notices to the customer chat.

Everything here is owed through the outbox as intents; the texts and buttons below are what the Telegram
channel (`handlers.telegram_channel`) renders from them when it sends them.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

from domain import alerts, chatroom, incidents, intake, outbox, people
from domain.errors import DeskError
from domain.identities import EMAIL, TELEGRAM
from domain.lang import of_conversation as lang_of_conversation
from domain.lang import of_person as lang_of_person
from domain.models import Conversation, Incident, IncidentMessage
from domain.sla import Sla
from handlers.desk import Desk
from handlers.formatting import zone_of
from locales import format as fmt
from locales import named, t
from locales.ack_text import ack_lines

FIRST_LINES = 3
PREVIEW = 300


class TakeButton(CallbackData, prefix="take"):
    incident: int


def message_link_of(message: IncidentMessage | None) -> str | None:
    """A link to a stored message (its conversation loaded) when Telegram can show one."""
    if message is None or message.conversation.channel != TELEGRAM:
        return None
    return message_link(int(message.conversation.ref), int(message.ref))


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
    if first is not None and first.conversation.channel == EMAIL:  # no chat to answer in: say how to answer
        lines.append(t(lang, "reply.ping_by_mail", key=incident.key))
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
    """The ping as Telegram shows it: `render_ping(ping, now)` in the person's language, and
    `render_ping.in_lang(kind, incident, lang, now)` for another reader (a rerouted copy)."""
    sla = Sla(settings.policy)

    async def in_lang(kind: str, incident: Incident, lang: str, now: datetime) -> tuple[str, dict | None]:
        first = await intake.first_customer_message(incident.id)
        more = max(await intake.customer_message_count(incident.id) - 1, 0)
        target = sla.target(incident.plan, incident.priority)
        text = ping_text(kind, incident, lang, now, settings.timezone, target, first, more)
        rows = [[InlineKeyboardButton(text=t(lang, "ping.take"),
                                      callback_data=TakeButton(incident=incident.id).pack())]]
        link = message_link_of(first)
        if link:
            rows[0].append(InlineKeyboardButton(text=t(lang, "ping.open"), url=link))
        return text, InlineKeyboardMarkup(inline_keyboard=rows).model_dump(exclude_none=True)

    async def render_ping(ping: alerts.Ping, now: datetime) -> tuple[str, dict | None]:
        return await in_lang(ping.kind, ping.incident, await lang_of_person(ping.user_id, settings.default_lang), now)

    render_ping.in_lang = in_lang
    return render_ping


def ack_text(incident: Incident, lang: str, sla: Sla, settings, now: datetime | None = None) -> str:
    """What we received, how urgent, by when we answer (in the customer's time and as the fixed target),
    where to add details, and what the buttons do."""
    now = now or incident.opened_at
    lines = ack_lines(incident, lang, sla, zone_of(incident.customer, settings), now)
    lines += ["", t(lang, "words.ack.details"), t(lang, "words.ack.buttons")]
    return "\n".join(lines)


def make_staff_notices(settings, sla: Sla):
    """What a new incident owes the staff, whatever channel it came by: the staff chat's announcement, the
    leads' word on an ended contract, and the on-call pings. `audience`: who can be told, when the caller
    read it once for many new incidents (`alerts.Audience`)."""
    async def staff_notices(incident: Incident, now: datetime, audience: alerts.Audience | None = None) -> None:
        if settings.staff_chat_id:
            await outbox.enqueue("announce", outbox.chat(settings.staff_chat_id), now, incident_id=incident.id,
                                 dedupe=f"announce:{incident.id}")
        if incident.contract_expired:
            for lead_id in audience.leads if audience else await alerts.leads(settings.lead_ids):
                await outbox.enqueue("notice", outbox.person(lead_id), now, params=outbox.say(
                    "intake.expired_lead", key=incident.key, code=incident.customer.code,
                    until=outbox.day(incident.customer.contract_until)), dedupe=f"expired:{incident.id}:{lead_id}")
        await alerts.on_new_incident(incident, now, sla, settings.policy.shifts, settings.lead_ids, audience)
    return staff_notices


def make_on_created(settings, sla: Sla):
    """Called inside intake's transaction when a message opened an incident: the notices are owed
    together with the incident, or not at all."""
    staff_notices = make_staff_notices(settings, sla)

    async def on_created(incident: Incident, message_ref: str, now: datetime,
                         audience: alerts.Audience | None = None) -> None:
        # The acknowledgement first: it replies to the customer's message and carries the P1–P4 buttons.
        conversation = await Conversation.get(id=incident.conversation_id)
        # A Telegram reply names a message id (a number); other channels' references are text.
        reply_to = int(message_ref) if conversation.channel == TELEGRAM else message_ref
        await outbox.enqueue("ack", outbox.conversation(conversation), now, rank=outbox.RANK_PING,
                             params=_placed({"reply_to": reply_to}, incident), incident_id=incident.id,
                             dedupe=f"ack:{incident.id}")
        await staff_notices(incident, now, audience)
    return on_created


def _placed(params: dict, incident: Incident) -> dict:
    """In the incident's forum topic when it has one (not in General)."""
    if incident.topic is not None:
        params["topic"] = topic_of(incident)
    return params


async def customer_lang(incident: Incident, default: str) -> str:
    """The language of the incident's chat (`domain.lang`)."""
    return await lang_of_conversation(incident.conversation_id, default)


async def tell_customer_chat(incident: Incident, say: dict, now: datetime, kind: str, buttons: str | None = None,
                             dedupe: str | None = None) -> None:
    """A notice about the incident in its chat (a `domain.outbox.say`), in its forum topic when it has one."""
    conversation = await Conversation.get(id=incident.conversation_id)
    if not chatroom.takes_chat_notices(conversation.channel):
        # A mail conversation is an address, not a chat: the notice goes to the reporter there.
        if incident.reporter_id is not None:
            await outbox.enqueue(kind, outbox.person(incident.reporter_id, channel=conversation.channel), now,
                                 params=dict(say), incident_id=incident.id, dedupe=dedupe)
        return
    params = _placed(dict(say), incident)
    if buttons:
        params["buttons"] = buttons
    await outbox.enqueue(kind, outbox.conversation(conversation), now, params=params,
                         incident_id=incident.id, dedupe=dedupe)


def taken_notice(settings, now: datetime, update_id: int | None = None, holder_id: int | None = None,
                 tell_customer: bool = True):
    """The customer chat hears that an engineer is on it (once per update, however often a failing answer
    makes it be handled again), and (given the holder) every copy of the ping says who took it: owed inside
    the take's transaction, so both happen with the take or not at all."""
    async def owe(incident: Incident) -> None:
        if tell_customer:
            await tell_customer_chat(incident, outbox.say("take.customer", key=incident.key), now, "customer",
                                     dedupe=f"taken:{incident.id}:u{update_id}" if update_id is not None else None)
        if holder_id is not None:
            await edit_pings(incident, holder_id, settings, now)
    return owe


def resolved_notice(settings, now: datetime, summary: str):
    """The customer chat gets the summary and the rating buttons (owed inside the resolve's transaction)."""
    async def owe(incident: Incident) -> None:
        say = outbox.say("resolve.customer", key=incident.key, summary=summary or outbox.word("resolve.no_summary"))
        await tell_customer_chat(incident, say, now, "customer", buttons="rating")
    return owe


def reopened_notice(settings, now: datetime):
    """The customer chat hears that staff reopened the incident (owed inside the reopen's transaction)."""
    async def owe(incident: Incident) -> None:
        await tell_customer_chat(incident, outbox.say("intake.reopened", key=incident.key), now, "customer")
    return owe


def escalation_notice(incident: Incident, note: str, actor_id: int, settings, now: datetime,
                      update_id: int | None = None):
    """The expert's DM: the incident card in short, the note, who asked, and a link to the chat. Keyed
    by the update, not the clock: a retried /escalate DMs nobody twice."""
    async def owe(user_id: int) -> None:
        await outbox.enqueue("escalation", outbox.person(user_id), now, params={"note": note, "actor": actor_id},
                             incident_id=incident.id, fallback=True,
                             dedupe=f"escalation:{incident.id}:{user_id}:"
                                    + (f"u{update_id}" if update_id is not None else now.isoformat()))
    return owe


def escalation_text(incident: Incident, lang: str, note: str, who: str, first) -> str:
    link = message_link_of(first)
    return t(lang, "escalate.dm", key=incident.key, name=incident.customer.name,
             plan=named(lang, "words.plan", incident.plan), priority=incident.priority,
             status=t(lang, f"state.{incident.status}"), title=incident.title, note=note or "—", who=who,
             link=link or "—")


async def edit_pings(incident: Incident, holder_id: int, settings, now: datetime) -> int:
    """Every copy of the incident's ping (new, reminder, breach, repeat; rerouted ones too) is rewritten
    to say who has it and since when, and loses its Take button, so nobody else gets up for it."""
    rows = await outbox.sent_pings(incident.id)
    for row in rows:
        await outbox.enqueue(outbox.EDIT, outbox.recipient_of(row), now, rank=outbox.RANK_PING,
                             params={"of": row.id, "holder": holder_id, "at": now.isoformat()},
                             incident_id=incident.id, dedupe=f"edit:{row.id}")
    return len(rows)


def taken_text(text: str, lang: str, taken: str) -> str:
    """A ping's text once someone took it: what Take does is moot now, the line says who took it."""
    hint = t(lang, "words.ping.take_hint")
    return text.replace(hint, taken) if hint in text else f"{text}\n\n{taken}"


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
