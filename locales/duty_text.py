"""The on-call notices as people read them: the handover at a shift's start and the leads' gap warning."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from domain.errors import Counted
from domain.models import Incident
from domain.oncall import Occurrence
from locales import format as fmt
from locales import named, t


def handover(lang: str, occ: Occurrence, watch: list[Incident], zone: ZoneInfo, now: datetime) -> str:
    """The open incidents in a compact list, most urgent first; a pushed message, so each gives its
    deadline as a moment, not as time left."""
    lines = [t(lang, "handover.header", shift=named(lang, "words.shift", occ.shift),
               span=fmt.span(lang, occ.start, occ.end, zone), incidents=Counted("words.n.incidents", len(watch)))]
    for incident in watch:
        due = (t(lang, "list.answered") if incident.responded_at
               else t(lang, "words.handover.due", deadline=fmt.when(lang, incident.deadline, zone, now)))
        lines.append(t(lang, "handover.row", key=incident.key, priority=incident.priority,
                       name=incident.customer.name, due=due, title=incident.title))
    if not watch:
        lines.append(t(lang, "handover.quiet"))
    return "\n".join(lines)


def gaps(lang: str, found: list[Occurrence], zone: ZoneInfo, now: datetime) -> str:
    """A run of uncovered shifts back to back is one line: «Дежурных нет с 26.11 10:00 до 03.12 19:00 — 15 смен»."""
    runs: list[list[Occurrence]] = []
    for occ in sorted(found, key=lambda o: o.start):
        if runs and runs[-1][-1].end == occ.start:
            runs[-1].append(occ)
        else:
            runs.append([occ])
    lines = [t(lang, "gaps.header", count=len(found))]
    for run in runs:
        if len(run) == 1:
            lines.append(t(lang, "gaps.row", shift=named(lang, "words.shift", run[0].shift),
                           span=fmt.span(lang, run[0].start, run[0].end, zone)))
        else:
            lines.append(t(lang, "words.gaps.run", start=fmt.moment(run[0].start, zone),
                           end=fmt.moment(run[-1].end, zone), shifts=Counted("words.n.shifts", len(run))))
    return "\n".join(lines)
