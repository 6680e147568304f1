"""How staff read incidents: the card (/incident) and the lists (/incidents, /my), laid out for a lead who
wants the state of the desk at a glance. Times are the desk's, relative to today, with the zone label."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from domain import people
from domain.identities import EMAIL
from domain.models import Conversation, Incident, IncidentEvent, IncidentMessage
from domain.sla import MET, Sla, verdict
from locales import format as fmt
from locales import named, t

BOT_LINE = 120  # the bot's own messages (the acknowledgement…) are shown by their first line only


def _event_params(lang: str, event: IncidentEvent) -> dict:
    data = dict(event.data)
    if event.kind == "responded":
        data["how"] = named(lang, "words.how", str(data.get("how", "")))
    elif event.kind == "plan":
        data["old"], data["new"] = (named(lang, "words.plan", str(data[k])) for k in ("old", "new"))
    elif event.kind == "escalated":
        data["role"] = named(lang, "role", str(data.get("role", "")))
    return data


async def card_text(incident: Incident, events: list[IncidentEvent], messages: list[IncidentMessage], lang: str,
                    zone: ZoneInfo, now: datetime, sla: Sla) -> str:
    when = lambda moment: fmt.when(lang, moment, zone, now)  # noqa: E731
    lines = [t(lang, "card.head", key=incident.key, code=incident.customer.code, name=incident.customer.name,
               plan=named(lang, "words.plan", incident.plan), priority=incident.priority,
               status=t(lang, f"state.{incident.status}"), opened=when(incident.opened_at),
               responded=when(incident.responded_at), assignee=await people.display_name(incident.assignee_id),
               title=incident.title)]
    conversation = await Conversation.get_or_none(id=incident.conversation_id)
    if conversation is not None and conversation.channel == EMAIL:
        lines.append(t(lang, "reply.card_by_mail", key=incident.key))
    if incident.responded_at is None:
        lines.append(t(lang, "card.deadline", deadline=when(incident.deadline),
                       left=fmt.time_left(lang, incident.deadline, now)))
    else:
        waited = sla.reaction_time(incident.plan, incident.opened_at, incident.responded_at)
        met = verdict(incident.deadline, incident.responded_at, now) == MET
        lines.append(t(lang, "card.reaction", waited=fmt.duration(lang, waited),
                       target=fmt.duration(lang, sla.target(incident.plan, incident.priority)),
                       verdict=t(lang, "card.met" if met else "card.breached")))
    if incident.contract_expired:
        lines.append(t(lang, "card.expired"))
    timeline = [(e.at, "event", e) for e in events] + [(m.sent_at, "message", m) for m in messages]
    lines.append(t(lang, "card.history"))
    shown_day = None
    for at, kind, item in sorted(timeline, key=lambda x: (x[0], x[1])):
        local = at.astimezone(zone)
        if local.date() != shown_day:  # the date once per day of history, the time on each line
            shown_day = local.date()
            lines.append(fmt.day(lang, at, zone, now))
        if kind == "message":
            body = item.text or "[" + ", ".join(a["kind"] for a in item.attachments) + "]"
            if item.source == "bot":
                first = body.splitlines()[0] if body else ""
                body = first[:BOT_LINE] + ("…" if first != body else "")
            author = f" {item.author}" if item.author and item.source != "bot" else ""
            lines.append(f"  {local:%H:%M} {t(lang, 'card.source_' + item.source)}{author}: {body[:400]}")
        else:
            who = await people.display_name(item.actor_id) if item.actor_id else ""
            detail = t(lang, f"event.{item.kind}", **_event_params(lang, item))
            lines.append(f"  {local:%H:%M} {detail} {who}".rstrip())
    return "\n".join(lines)


async def listing_text(found: list[Incident], lang: str, zone: ZoneInfo, now: datetime, empty_key: str) -> str:
    """Totals first (open, overdue, unanswered), then the unanswered by time left with the customer's name,
    then those in progress with their assignee."""
    if not found:
        return t(lang, empty_key)
    waiting = sorted((i for i in found if i.responded_at is None),
                     key=lambda i: (i.deadline is None, i.deadline or now, i.id))
    answered = [i for i in found if i.responded_at is not None]
    overdue = sum(1 for i in waiting if i.deadline is not None and i.deadline <= now)
    lines = [t(lang, "words.list.totals", open=len(found), overdue=overdue, waiting=len(waiting))]
    if waiting:
        lines += ["", t(lang, "words.list.waiting")]
        for i in waiting:
            lines.append(t(lang, "words.list.waiting_row", key=i.key, priority=i.priority, name=i.customer.name,
                           left=fmt.time_left(lang, i.deadline, now), deadline=fmt.when(lang, i.deadline, zone, now),
                           title=i.title))
    if answered:
        lines += ["", t(lang, "words.list.in_progress")]
        for i in answered:
            who = await people.display_name(i.assignee_id) if i.assignee_id else t(lang, "list.nobody")
            lines.append(t(lang, "words.list.progress_row", key=i.key, priority=i.priority, name=i.customer.name,
                           who=who, title=i.title))
    return "\n".join(lines)
