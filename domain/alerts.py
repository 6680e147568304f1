"""Pings owed while nobody has responded: the new-incident ping, the reminder, the breach, the repeats.

Each open incident of a plan with `ping = true` carries its next due moment (`next_due_at`, indexed)
and a stage: 0 the reminder is next (at deadline − remind_before), 1 the breach (at the deadline), 2…
the repeats (every `repeat_every`, at most `max_repeats`). Reminder and repeats are counted in the
plan's working time, so an 8x5 incident is never pinged outside its hours (the deadline itself always
falls in them, or at their closing minute). The tick asks only for incidents due now,
advances each one's stage with a conditional UPDATE (so two schedulers never fire the same stage), and
writes the pings to the outbox in that same transaction.

The pings are owed as intents (kind, incident, person): the domain decides who is told what and when, the
channel renders the text in the person's language when it sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from domain import oncall, outbox
from domain.models import Incident, Staff
from domain.policy import Policy, ShiftSpec
from domain.sla import Sla

KINDS = ("new", "reminder", "breach", "repeat")
# A ping found due this long after its moment while its plan's calendar is closed (the process was away)
# waits for the calendar to open instead of waking the night shift; within it, it is just a late tick.
LATE_GRACE = timedelta(minutes=5)
_INSTANT = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Ping:
    kind: str  # new reminder breach repeat
    incident: Incident
    user_id: int


def due_for_stage(stage: int, plan: str, deadline: datetime | None, opened_at: datetime, sla: Sla) -> datetime | None:
    """When the ping of this stage is owed, or None when no more are (or the plan does not ping)."""
    policy: Policy = sla.policy
    if deadline is None or not policy.plans[plan].ping:
        return None
    if stage == 0:
        return sla.remind_at(plan, deadline, opened_at)
    if stage == 1:
        return deadline
    repeat = stage - 1
    if repeat > policy.max_repeats:
        return None
    return sla.repeat_at(plan, deadline, repeat)


def may_fire(plan: str, due: datetime, now: datetime, sla: Sla, grace: timedelta = LATE_GRACE) -> bool:
    """Whether a ping due at `due` may go out now: always while the plan's calendar is open; when it is
    closed, only a ping that fell due in its hours (or at the closing minute, as a deadline may) and is
    at most `grace` late. Anything else (an outage over the evening, a moment computed by an older
    version in wall-clock time) waits for the next opening."""
    calendar = sla.calendar(plan)
    if calendar.is_open(now):
        return True
    in_hours = calendar.is_open(due) or calendar.is_open(due - _INSTANT)
    return in_hours and now - due <= grace


def kind_of(stage: int) -> str:
    return "reminder" if stage == 0 else "breach" if stage == 1 else "repeat"


async def leads(lead_ids: frozenset[int]) -> list[int]:
    found = set(await Staff.filter(role="lead", active=True).values_list("user_id", flat=True))
    return sorted(found | set(lead_ids))


@dataclass(frozen=True)
class Audience:
    """Who can be told at this moment: read once per tick, not once per incident."""

    on_call: list[int]
    leads: list[int]
    staff: frozenset[int] = frozenset()  # active staff: a dedicated engineer who left is not told

    @classmethod
    async def at(cls, now: datetime, shifts: dict[str, ShiftSpec], lead_ids: frozenset[int]) -> Audience:
        staff = frozenset(await Staff.filter(active=True).values_list("user_id", flat=True))
        return cls(await oncall.on_call_now(now, shifts), await leads(lead_ids), staff)


def recipients(incident: Incident, kind: str, audience: Audience) -> list[int]:
    """On call now, the premium customer's dedicated engineer, and for a breach every lead.

    When nobody is on call the leads are told instead: a gap in the roster must not swallow a ping.
    """
    people = list(audience.on_call)
    engineer = incident.customer.engineer_id
    if engineer and incident.plan == "premium" and engineer in audience.staff and engineer not in people:
        people.append(engineer)
    if kind in ("breach", "repeat") or not people:
        people += [lead for lead in audience.leads if lead not in people]
    return people


async def _owe(kind: str, incident: Incident, stage: int, now: datetime, audience: Audience) -> int:
    count = 0
    for user_id in recipients(incident, kind, audience):
        await outbox.enqueue(kind, outbox.person(user_id), now, rank=outbox.RANK_PING, incident_id=incident.id,
                             drop_if_answered=True, fallback=True, dedupe=f"{kind}:{incident.id}:{stage}:{user_id}")
        count += 1
    return count


async def on_new_incident(incident: Incident, now: datetime, sla: Sla, shifts: dict[str, ShiftSpec],
                          lead_ids: frozenset[int], audience: Audience | None = None) -> int:
    """The ping at once, when the plan pings and its calendar is open now (call inside intake's transaction).
    `audience`: who can be told, read once for the many incidents of one transaction (a group commit).

    An 8x5 incident written at night gets no ping now: the morning handover lists it, and its reminder
    falls in business hours.
    """
    if not sla.plan(incident.plan).ping or not sla.is_open(incident.plan, now):
        return 0
    return await _owe("new", incident, -1, now, audience or await Audience.at(now, shifts, lead_ids))


async def fire_due(now: datetime, sla: Sla, shifts: dict[str, ShiftSpec], lead_ids: frozenset[int],
                   limit: int = 200, late_grace: timedelta = LATE_GRACE) -> dict[str, int]:
    """Owe every ping that is due; returns how many incidents advanced, by kind of ping. `late_grace`:
    see `may_fire` (the tick passes at least two of its intervals)."""
    # Only `next_due_at` in the query, so the planner walks its index: the column is cleared whenever an
    # incident is answered or resolved, and the conditional UPDATE below re-checks the rest.
    due = await Incident.filter(next_due_at__lte=now).order_by("next_due_at").limit(limit).select_related("customer")
    fired: dict[str, int] = {}
    audience = await Audience.at(now, shifts, lead_ids) if due else None
    for incident in due:
        if incident.responded_at is not None or incident.status not in ("new", "in_progress"):
            await Incident.filter(id=incident.id).update(next_due_at=None)
            continue
        stage = incident.alert_stage
        if not may_fire(incident.plan, incident.next_due_at, now, sla, late_grace):
            opening = sla.calendar(incident.plan).next_opening(now)
            await Incident.filter(id=incident.id, alert_stage=stage, responded_at__isnull=True).update(
                next_due_at=opening)
            continue
        after = stage + 1
        following = due_for_stage(after, incident.plan, incident.deadline, incident.opened_at, sla)
        # Repeats whose moments passed while the desk was away (or that a plan change pulled into the past)
        # are not sent one tick apart: the next repeat is the first still ahead. The breach is never skipped.
        while following is not None and after >= 2 and following <= now:
            after += 1
            following = due_for_stage(after, incident.plan, incident.deadline, incident.opened_at, sla)
        async with in_transaction():
            advanced = await Incident.filter(id=incident.id, alert_stage=stage, responded_at__isnull=True).update(
                alert_stage=after, next_due_at=following
            )
            if advanced:
                kind = kind_of(stage)
                await _owe(kind, incident, stage, now, audience)
                fired[kind] = fired.get(kind, 0) + 1
    return fired


async def reschedule(incident_id: int, sla: Sla) -> None:
    """After a priority or plan change: the next ping follows the new deadline (the stage is kept)."""
    incident = await Incident.get(id=incident_id)
    if incident.responded_at is not None:
        return
    due = due_for_stage(incident.alert_stage, incident.plan, incident.deadline, incident.opened_at, sla)
    await Incident.filter(id=incident_id).update(next_due_at=due)
