"""The scheduler's tick, run by `scheduler.ticker.Ticker`. The tick reads the clock, asks the domain what is
due, and writes what the desk owes to the outbox; the courier sends it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import telemetry
from domain import (
    alerts,
    attempts,
    chatroom,
    claims,
    customers,
    desk_page,
    incidents,
    intake,
    oncall,
    outbox,
    reports,
    retention,
    updates,
)
from domain.clock import Clock
from domain.identities import EMAIL
from domain.models import Customer
from domain.sla import Sla
from scheduler.leader import AlwaysLeader, PostgresLeader

log = logging.getLogger(__name__)
HANDOVER_GRACE = timedelta(hours=1)  # a handover missed by a longer outage is not worth sending late
GAP_WARNING_AT = time(12, 0)
GAP_HORIZON = timedelta(days=7)
REPORT_GRACE = timedelta(days=1)  # a report missed by a longer outage is sent by a lead with /report instead
CLEAN_UP_AT = time(3, 0)  # the daily clean-up runs at the first tick after this (TIMEZONE): a quiet hour


@dataclass
class Heartbeat:
    """When the tick last finished, and which updates keep failing: /healthz reads it."""

    last_tick: datetime | None = None
    ticks: int = 0
    errors: int = 0
    failing: dict[int, datetime] = field(default_factory=dict)  # update id → its first failure

    def update_failed(self, update_id: int, now: datetime) -> None:
        self.failing.setdefault(update_id, now)

    def update_handled(self, update_id: int) -> None:
        self.failing.pop(update_id, None)

    def stuck_update(self, now: datetime, longer_than: timedelta) -> tuple[int, timedelta] | None:
        """The update that has been failing longest, when that is longer than `longer_than`: intake of
        its chat (and, until it passes, of the batch after it) is waiting on it."""
        if not self.failing:
            return None
        update_id, since = min(self.failing.items(), key=lambda item: item[1])
        return (update_id, now - since) if now - since > longer_than else None


class Tick:
    def __init__(self, settings, clock: Clock, sla: Sla, heartbeat: Heartbeat,
                 leader: AlwaysLeader | PostgresLeader | None = None) -> None:
        self.settings, self.clock, self.sla, self.heartbeat = settings, clock, sla, heartbeat
        self.leader = leader or AlwaysLeader()

    async def run(self) -> None:
        """One tick. It catches its own faults (logged, counted for /healthz), so the ticker's next tick
        comes; a stop waits for it (the ticker never cancels it)."""
        now = self.clock.now()
        try:
            if not await self.leader.holds():  # another instance runs the jobs; this one stays ready
                self.heartbeat.last_tick = self.clock.now()
                return
            late_grace = max(alerts.LATE_GRACE, 2 * self.settings.scheduler_tick)  # a slow tick is not an outage
            fired = await alerts.fire_due(now, self.sla, self.settings.policy.shifts, self.settings.lead_ids,
                                          late_grace=late_grace)
            for kind, count in fired.items():
                telemetry.PINGS.labels(kind).inc(count)
                log.info("tick: %d incidents owed a %s", count, kind)
            await self.handovers(now)
            await self.gap_warning(now)
            await self.periodic_reports(now)
            await intake.close_expired(now, self.settings.reopen_window)
            await updates.forget_old(now)
            await attempts.forget_old(now)
            await self.clean_up(now)
        except Exception:
            self.heartbeat.errors += 1
            log.exception("scheduler tick failed")
            return
        self.heartbeat.last_tick, self.heartbeat.ticks = self.clock.now(), self.heartbeat.ticks + 1

    async def clean_up(self, now: datetime) -> None:
        """Once a day, across restarts and instances: delete what is past its retention."""
        today = now.astimezone(self.settings.timezone)
        duty = f"cleanup:{today.date().isoformat()}"
        if today.time() < CLEAN_UP_AT or await claims.done(duty):
            return
        removed = await retention.clean(now, self.settings.retention)
        removed["desk sign-ins and sessions"] = await desk_page.forget_expired(now)  # dead already: nothing to keep
        await claims.mark_done(duty, now)
        log.info("clean-up: %s", ", ".join(f"{count} {kind}" for kind, count in removed.items()))

    async def handovers(self, now: datetime) -> None:
        shifts = self.settings.policy.shifts
        for occ in oncall.started_within(shifts, now - HANDOVER_GRACE, now):
            duty = f"handover:{occ.shift}:{occ.day.isoformat()}"
            if await claims.done(duty):
                continue
            # The incidents open at the handover; the text reads their state when it is sent.
            watch = [i.id for i in await incidents.open_incidents() if self.sla.plan(i.plan).ping]
            for user_id in await oncall.on_duty_for(occ, shifts):
                await outbox.enqueue("handover", outbox.person(user_id), now,
                                     params={**outbox.shift(occ), "watch": watch}, fallback=True,
                                     dedupe=f"{duty}:{user_id}")
            await claims.mark_done(duty, now)

    async def gap_warning(self, now: datetime) -> None:
        today = now.astimezone(self.settings.timezone)
        duty = f"gaps:{today.date().isoformat()}"
        if today.time() < GAP_WARNING_AT or await claims.done(duty):
            return
        rotations, spans = await oncall.load(now, GAP_HORIZON + timedelta(days=1))
        found = oncall.gaps(now, now + GAP_HORIZON, self.settings.policy.shifts, rotations, spans)
        if not found:
            await claims.mark_done(duty, now)
            return
        for lead_id in await alerts.leads(self.settings.lead_ids):
            await outbox.enqueue("gaps", outbox.person(lead_id), now,
                                 params={"found": [outbox.shift(occ) for occ in found]}, dedupe=f"{duty}:{lead_id}")
        await claims.mark_done(duty, now)

    async def periodic_reports(self, now: datetime) -> None:
        """Customers with `report` set get it in their chats and by mail to their contacts on schedule, leads a
        copy; once per period."""
        for customer in await Customer.exclude(report="off"):
            zone = ZoneInfo(customer.tz) if customer.tz else self.settings.timezone
            due = reports.scheduled(customer.report, now, zone)
            if due is None or not timedelta(0) <= now - due[0] < REPORT_GRACE:
                continue
            period = due[1]
            duty = f"report:{customer.code}:{period.first_day}:{period.last_day}"
            if await claims.done(duty):
                continue
            chats = [outbox.conversation(c) for c in await customers.conversations_of(customer)
                     if chatroom.takes_chat_notices(c.channel)]
            copies = [outbox.person(lead) for lead in await alerts.leads(self.settings.lead_ids)]
            params = reports.owed(customer.code, period)
            for to in chats + copies:  # the chats read the report; the leads' copy adds the recommendations
                key = f"{duty}:v{to.conversation}" if to.conversation is not None else f"{duty}:{to.person}"
                await outbox.enqueue("report", to, now, params=params, rank=outbox.RANK_REPORT, dedupe=key)
                await outbox.enqueue("report", to, now, params={**params, "chart": True}, rank=outbox.RANK_REPORT,
                                     dedupe=key + ":chart")
            # The customer's contacts with an address read it by mail too (one mail, the chart attached):
            # only when e-mail is configured, or the rows would wait for a channel that never comes.
            mailed = await customers.mail_contacts(customer, now) if self.settings.mail is not None else []
            for person_id in mailed:
                await outbox.enqueue("report", outbox.person(person_id, channel=EMAIL), now, params=params,
                                     rank=outbox.RANK_REPORT, dedupe=f"{duty}:{EMAIL}:{person_id}")
            await claims.mark_done(duty, now)
            log.info("report for %s (%s – %s) owed to %d chats and %d addresses", customer.code, period.first_day,
                     period.last_day, len(chats) + len(copies), len(mailed))

