"""On-call duty: /oncall and /schedule for staff; /rotation and the overrides for leads."""

from __future__ import annotations

from datetime import timedelta

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import Message

from domain import oncall, people
from domain.errors import Counted, DeskError
from handlers.args import cmd, looks_like_command, parse_range, split
from handlers.desk import Desk
from handlers.replies import respond
from locales import format as fmt
from locales import named, t

MAX_DAYS = 31


async def rotation(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    words = split(command, 3)
    shift, mode, refs = words[0].lower(), words[1].lower(), words[2:]
    saved = await oncall.set_rotation(shift, mode, refs, desk.settings.policy.shifts, actor.user_id, desk.now())
    names = ", ".join([await people.display_name(m) for m in saved.members])
    await respond(message, t(lang, "oncall.rotation_set", shift=named(lang, "words.shift", shift),
                             mode=t(lang, f"oncall.mode_{mode}"), names=names, day=fmt.date(saved.anchor)))


async def override(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    lang = desk.lang
    words = split(command, 3, 5)
    (user_id,) = await oncall.staff_ids([words[0]])
    start, end = parse_range(words[1:], desk.now(), desk.settings.timezone)
    saved = await oncall.add_override(user_id, start, end, actor.user_id, desk.now())
    zone = desk.settings.timezone
    await respond(message, t(lang, "oncall.override_set", id=saved.id, name=await people.display_name(saved.user_id),
                             span=fmt.span(lang, saved.starts_at, saved.ends_at, zone, with_zone=True)))


async def overrides(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    split(command, 0, 0)
    rows = await oncall.list_overrides(desk.now())
    if not rows:
        await respond(message, t(lang, "oncall.no_overrides"))
        return
    lines = [t(lang, "oncall.overrides_header")]
    for row in rows:
        lines.append(t(lang, "oncall.override_row", id=row.id, name=await people.display_name(row.user_id),
                       span=fmt.span(lang, row.starts_at, row.ends_at, desk.settings.timezone, with_zone=True)))
    await respond(message, "\n".join(lines))


async def override_remove(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    (ref,) = split(command, 1, 1)
    removed = await oncall.remove_override(ref)
    await respond(message, t(lang, "oncall.override_removed", id=removed.id))


async def on_call(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    split(command, 0, 0)
    now = desk.now()
    shifts = desk.settings.policy.shifts
    rotations, spans = await oncall.load(now, timedelta(days=2))
    lines = [t(lang, "oncall.now_header", now=fmt.when(lang, now, desk.settings.timezone, now))]
    for duty in oncall.on_call_at(now, shifts, rotations, spans):
        who = await people.display_name(duty.user_id) if duty.user_id else t(lang, "oncall.nobody")
        source = t(lang, "oncall.by_override") if duty.source == "override" else ""
        lines.append(t(lang, "oncall.duty_row", shift=named(lang, "words.shift", duty.shift) if duty.shift else "—",
                       name=who, source=source).rstrip())
    nxt, incoming = oncall.next_handoff(now, shifts, rotations, spans)
    lines.append(t(lang, "oncall.next_handoff", shift=named(lang, "words.shift", nxt.shift),
                   at=fmt.when(lang, nxt.start, desk.settings.timezone, now),
                   name=await people.display_name(incoming) if incoming else t(lang, "oncall.nobody")))
    await respond(message, "\n".join(lines))


async def schedule(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    words = split(command, 0, 1)
    if words and (not words[0].isdigit() or not 1 <= int(words[0]) <= MAX_DAYS):
        raise DeskError("err.bad_days", limit=MAX_DAYS)
    days = int(words[0]) if words else 7
    now = desk.now()
    end = now + timedelta(days=days)
    rotations, spans = await oncall.load(now, timedelta(days=days + 1))
    occurrences = sorted((occ for spec in desk.settings.policy.shifts.values()
                          for occ in oncall.occurrences_between(spec, now, end)), key=lambda o: o.start)
    gap_starts = {(g.shift, g.start) for g in oncall.gaps(now, end, desk.settings.policy.shifts, rotations, spans)}
    lines = [t(lang, "oncall.schedule_header", days=Counted("words.n.days", days))]
    for occ in occurrences:
        person = oncall.rostered(rotations.get(occ.shift), occ)
        who = await people.display_name(person) if person else t(lang, "oncall.nobody")
        extra = ""
        for span in oncall.overlapping(spans, occ):
            extra += t(lang, "oncall.schedule_override", name=await people.display_name(span.user_id),
                       span=fmt.span(lang, span.start, span.end, desk.settings.timezone))
        mark = t(lang, "oncall.gap") if (occ.shift, occ.start) in gap_starts else ""
        lines.append(t(lang, "oncall.schedule_row", span=fmt.span(lang, occ.start, occ.end, desk.settings.timezone),
                       shift=named(lang, "words.shift", occ.shift), name=who, extra=extra, gap=mark).rstrip())
    await respond(message, "\n".join(lines))


def build_router() -> Router:
    router = Router(name="oncall")
    router.message.filter(looks_like_command)
    router.message.register(rotation, cmd("rotation"))
    router.message.register(override, cmd("override"))
    router.message.register(overrides, cmd("overrides"))
    router.message.register(override_remove, cmd("override_remove"))
    router.message.register(on_call, cmd("oncall"))
    router.message.register(schedule, cmd("schedule"))
    return router
