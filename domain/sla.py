"""Reaction deadlines from the policy: the plan's calendar added to the incident's start.

Deadlines are always recomputed from their inputs (start, plan, priority, policy), never decremented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.policy import PlanPolicy, Policy
from domain.worktime import WorkCalendar

MET, BREACHED, PENDING = "met", "breached", "pending"


def verdict(deadline: datetime | None, responded_at: datetime | None, now: datetime) -> str:
    """The SLA verdict on one incident's reaction, the same on the card, in reports and in the export:
    answered by the deadline (or with none to meet) is met, answered later is breached; unanswered, it is
    breached once the deadline has passed and pending until then."""
    if responded_at is not None:
        return MET if deadline is None or responded_at <= deadline else BREACHED
    return BREACHED if deadline is not None and deadline <= now else PENDING


@dataclass(frozen=True)
class Timing:
    clock_starts: datetime  # the first working moment at or after the start
    deadline: datetime
    remind_at: datetime  # deadline − remind_before in working time, never before the clock starts


class Sla:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.calendars = {name: WorkCalendar(spec) for name, spec in policy.calendars.items()}

    def plan(self, plan: str) -> PlanPolicy:
        return self.policy.plans[plan]

    def calendar(self, plan: str) -> WorkCalendar:
        return self.calendars[self.policy.plans[plan].calendar]

    def target(self, plan: str, priority: str) -> timedelta:
        return self.policy.plans[plan].reaction[priority]

    def deadline(self, plan: str, priority: str, opened_at: datetime) -> datetime:
        return self.calendar(plan).add(opened_at, self.target(plan, priority))

    def timing(self, plan: str, priority: str, opened_at: datetime) -> Timing:
        calendar = self.calendar(plan)
        deadline = calendar.add(opened_at, self.target(plan, priority))
        return Timing(calendar.next_opening(opened_at), deadline, self.remind_at(plan, deadline, opened_at))

    # Pings follow the plan's calendar: an 8x5 incident is never reminded or repeated outside its hours.
    def remind_at(self, plan: str, deadline: datetime, opened_at: datetime) -> datetime:
        """`remind_before` of working time before the deadline, and not before the clock starts."""
        calendar = self.calendar(plan)
        return max(calendar.next_opening(opened_at), calendar.subtract(deadline, self.plan(plan).remind_before))

    def repeat_at(self, plan: str, deadline: datetime, repeat: int) -> datetime:
        """The n-th repeat of a breach: `repeat_every` of working time apart, counted from the deadline."""
        return self.calendar(plan).add(deadline, repeat * self.policy.repeat_every)

    def is_open(self, plan: str, moment: datetime) -> bool:
        return self.calendar(plan).is_open(moment)

    def reaction_time(self, plan: str, opened_at: datetime, responded_at: datetime) -> timedelta:
        """Working time the customer waited, as the SLA counts it."""
        return self.calendar(plan).working_between(opened_at, responded_at)
