"""The heart of an acknowledgement, the same on every channel: what we received, how urgent, and by when
we answer in the customer's time (with the fixed target, since nothing updates a sent message)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from domain.models import Incident
from domain.sla import Sla
from locales import format as fmt
from locales import t


def ack_lines(incident: Incident, lang: str, sla: Sla, zone: ZoneInfo, now: datetime) -> list[str]:
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
    return lines
