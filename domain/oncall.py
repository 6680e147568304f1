"""On-call duty: shift occurrences, rotations, overrides, who is on call at a moment, and gaps.

The resolution is pure (plain values in, plain values out); the loaders and the commands' services at
the bottom read and write the rotation and override tables.

* A shift occurs every day from `start` to `end` in its time zone; one that ends at or before its start
  crosses midnight (night 19:00–10:00 belongs to the date it starts on).
* A rotation gives each occurrence of its shift a person: members take turns daily or weekly, counted
  from the anchor (the occurrence that was current, or next, when the rotation was set).
* An override puts a person on duty for a time range; while any override covers a moment, its people
  are on call instead of the rotations' (the latest override first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tortoise.transactions import in_transaction

from domain.errors import Counted, DeskError
from domain.models import Override, Rotation, Staff
from domain.people import resolve_person
from domain.policy import ShiftSpec

ONE_DAY = timedelta(days=1)
MODES = ("daily", "weekly")
MAX_OVERRIDE = timedelta(days=31)


@dataclass(frozen=True)
class Occurrence:
    shift: str
    day: date  # the local date the occurrence starts on
    start: datetime
    end: datetime


@dataclass(frozen=True)
class RotationPlan:
    shift: str
    mode: str
    members: tuple[int | None, ...]  # None: a member who has left the staff; their turns are gaps
    anchor: date


@dataclass(frozen=True)
class OverrideSpan:
    id: int
    user_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Duty:
    shift: str | None  # None: an override outside every shift
    user_id: int | None  # None: nobody (a gap)
    source: str  # rotation | override | none
    occurrence: Occurrence | None


def occurrence(spec: ShiftSpec, day: date) -> Occurrence:
    start = datetime.combine(day, spec.start, spec.timezone)
    end_day = day if spec.end > spec.start else day + ONE_DAY
    end = datetime.combine(end_day, spec.end, spec.timezone)
    return Occurrence(spec.name, day, start.astimezone(UTC), end.astimezone(UTC))


def covering(spec: ShiftSpec, moment: datetime) -> Occurrence | None:
    local_day = moment.astimezone(spec.timezone).date()
    for day in (local_day, local_day - ONE_DAY):
        occ = occurrence(spec, day)
        if occ.start <= moment < occ.end:
            return occ
    return None


def occurrences_between(spec: ShiftSpec, a: datetime, b: datetime) -> list[Occurrence]:
    """Occurrences of the shift that overlap [a, b), in order."""
    found = []
    day = a.astimezone(spec.timezone).date() - ONE_DAY
    last = b.astimezone(spec.timezone).date()
    while day <= last:
        occ = occurrence(spec, day)
        if occ.end > a and occ.start < b:
            found.append(occ)
        day += ONE_DAY
    return found


def next_start(spec: ShiftSpec, moment: datetime) -> Occurrence:
    """The first occurrence starting after the moment."""
    day = moment.astimezone(spec.timezone).date()
    while True:
        occ = occurrence(spec, day)
        if occ.start > moment:
            return occ
        day += ONE_DAY


def next_handoff(moment: datetime, shifts: dict[str, ShiftSpec], rotations: dict[str, RotationPlan],
                 overrides: list[OverrideSpan]) -> tuple[Occurrence, int | None]:
    """The first shift occurrence to start after the moment, and who will be on duty as it starts (None:
    nobody): an override covering its start wins over the rotation, as it will when the moment comes.
    Ties (two shifts starting at once) go to the shift listed first in the policy."""
    nxt = min((next_start(spec, moment) for spec in shifts.values()), key=lambda o: o.start)
    incoming = on_call_at(nxt.start, {nxt.shift: shifts[nxt.shift]}, rotations, overrides)
    return nxt, next(iter(people(incoming)), None)


def overlapping(spans: list[OverrideSpan], occ: Occurrence) -> list[OverrideSpan]:
    """The overrides that share any time with the occurrence (touching at an end is no overlap), in order."""
    return [s for s in spans if s.start < occ.end and s.end > occ.start]


def rostered(plan: RotationPlan | None, occ: Occurrence) -> int | None:
    if plan is None or not plan.members:
        return None
    days = (occ.day - plan.anchor).days
    step = days if plan.mode == "daily" else days // 7
    return plan.members[step % len(plan.members)]


def on_call_at(moment: datetime, shifts: dict[str, ShiftSpec], rotations: dict[str, RotationPlan],
               overrides: list[OverrideSpan]) -> list[Duty]:
    active = sorted((o for o in overrides if o.start <= moment < o.end), key=lambda o: o.start, reverse=True)
    duties = []
    covered = False
    for spec in shifts.values():
        occ = covering(spec, moment)
        if occ is None:
            continue
        covered = True
        if active:
            duties.extend(Duty(spec.name, o.user_id, "override", occ) for o in active)
        else:
            person = rostered(rotations.get(spec.name), occ)
            duties.append(Duty(spec.name, person, "rotation" if person else "none", occ))
    if not covered:
        duties.extend(Duty(None, o.user_id, "override", None) for o in active)
    return duties


def people(duties: list[Duty]) -> list[int]:
    seen: list[int] = []
    for duty in duties:
        if duty.user_id is not None and duty.user_id not in seen:
            seen.append(duty.user_id)
    return seen


def _covered_by(occ: Occurrence, overrides: list[OverrideSpan]) -> bool:
    """True when the overrides together cover the whole occurrence."""
    point = occ.start
    for span in sorted(overrides, key=lambda o: o.start):
        if span.start > point:
            break
        point = max(point, span.end)
        if point >= occ.end:
            return True
    return point >= occ.end


def gaps(a: datetime, b: datetime, shifts: dict[str, ShiftSpec], rotations: dict[str, RotationPlan],
         overrides: list[OverrideSpan]) -> list[Occurrence]:
    """Shift occurrences in [a, b) that nobody is rostered for and overrides do not fully cover."""
    found = []
    for spec in shifts.values():
        for occ in occurrences_between(spec, a, b):
            if rostered(rotations.get(spec.name), occ) is None and not _covered_by(occ, overrides):
                found.append(occ)
    return sorted(found, key=lambda o: o.start)


# ---- loaders and services -------------------------------------------------------------------------
async def load(now: datetime, horizon: timedelta = timedelta(days=400)) -> tuple[dict[str, RotationPlan],
                                                                               list[OverrideSpan]]:
    """Rotations and overrides as the schedule sees them: people removed from the staff are never on call.
    Their rotation turns become gaps (the leads are pinged, the gap warning names them) rather than
    shifting everyone else's turns; their overrides are left out."""
    active = set(await Staff.filter(active=True).values_list("user_id", flat=True))
    rotations = {r.shift: RotationPlan(r.shift, r.mode, tuple(m if m in active else None for m in r.members),
                                       r.anchor) for r in await Rotation.all()}
    overrides = [OverrideSpan(o.id, o.user_id, o.starts_at, o.ends_at)
                 for o in await Override.filter(ends_at__gt=now, starts_at__lt=now + horizon).order_by("starts_at")
                 if o.user_id in active]
    return rotations, overrides


async def on_call_now(now: datetime, shifts: dict[str, ShiftSpec]) -> list[int]:
    rotations, overrides = await load(now, timedelta(days=1))
    return people(on_call_at(now, shifts, rotations, overrides))


async def staff_ids(refs: list[str]) -> list[int]:
    """Active staff members by their references (`@username` or id), in order."""
    ids = []
    for ref in refs:
        user_id = await resolve_person(ref)
        if not await Staff.exists(user_id=user_id, active=True):
            raise DeskError("err.not_staff", ref=ref)
        ids.append(user_id)
    return ids


async def set_rotation(shift: str, mode: str, refs: list[str], shifts: dict[str, ShiftSpec], actor_id: int,
                       now: datetime) -> Rotation:
    if shift not in shifts:
        raise DeskError("err.bad_shift", shift=shift, allowed=" ".join(shifts))
    if mode not in MODES:
        raise DeskError("usage.rotation")
    members = await staff_ids(refs)
    spec = shifts[shift]
    current = covering(spec, now) or next_start(spec, now)
    async with in_transaction():
        rotation, _ = await Rotation.update_or_create(
            shift=shift, defaults={"mode": mode, "members": members, "anchor": current.day, "updated_at": now,
                                   "updated_by": actor_id},
        )
    return rotation


def check_range(start: datetime, end: datetime, now: datetime) -> None:
    """An override ends after it starts and after now, and lasts at most MAX_OVERRIDE."""
    if end <= start or end <= now:
        raise DeskError("err.bad_range")
    if end - start > MAX_OVERRIDE:
        raise DeskError("err.range_too_long", days=Counted("words.n.days_gen", MAX_OVERRIDE.days))


async def add_override(user_id: int, start: datetime, end: datetime, actor_id: int, now: datetime) -> Override:
    """Put a staff member (see `staff_ids`) on duty from start to end."""
    check_range(start, end, now)
    return await Override.create(user_id=user_id, starts_at=start, ends_at=end, created_at=now, created_by=actor_id)


async def list_overrides(now: datetime) -> list[Override]:
    return await Override.filter(ends_at__gt=now).order_by("starts_at")


async def remove_override(ref: str) -> Override:
    if not ref.isdigit():
        raise DeskError("usage.override_remove")
    override = await Override.get_or_none(id=int(ref))
    if override is None:
        raise DeskError("err.unknown_override", id=ref)
    await override.delete()
    return override


def started_within(shifts: dict[str, ShiftSpec], a: datetime, b: datetime) -> list[Occurrence]:
    """Occurrences whose start falls in (a, b]: the shifts whose handover is due."""
    found = []
    for spec in shifts.values():
        found += [occ for occ in occurrences_between(spec, a, b + timedelta(seconds=1)) if a < occ.start <= b]
    return sorted(found, key=lambda o: o.start)


async def on_duty_for(occ: Occurrence, shifts: dict[str, ShiftSpec]) -> list[int]:
    """Who takes this occurrence at its start: the override people then, else its rostered person."""
    rotations, spans = await load(occ.start, timedelta(days=1))
    duties = on_call_at(occ.start, {occ.shift: shifts[occ.shift]}, rotations, spans)
    return people(duties)
