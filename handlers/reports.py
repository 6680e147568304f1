"""Lead reporting and outreach: /report, /sla_report, /export, /quote, /announce."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import BufferedInputFile, Message

from domain import chatroom, customers, invitations, outbox, report_chart, reports
from domain.errors import Counted, DeskError
from domain.policy import HA_SETUPS
from handlers.args import cmd, looks_like_command, parse_period, split
from handlers.desk import Desk
from handlers.formatting import zone_of
from handlers.lead_admin import money
from handlers.replies import respond
from locales import named, report_text, t

ANNOUNCE_LIMIT = 3000


async def send_report(message: Message, report: reports.Report, lang: str, name: str) -> None:
    await respond(message, report_text.render(report, lang, name))
    png = report_chart.render(report, report_text.chart_labels(report, lang, name))
    await message.answer_photo(BufferedInputFile(png, "report.png"))


async def report(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    words = split(command, 1, 3)
    customer = await customers.get_customer(words[0])
    zone = zone_of(customer, desk.settings)
    period = parse_period(words[1:], desk.now(), zone)
    built = await reports.build([customer], period, desk.now(), desk.sla, zone)
    await send_report(message, built, lang, f"{customer.name} ({customer.code})")


async def sla_report(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    words = split(command, 0, 2)
    period = parse_period(words, desk.now(), desk.settings.timezone)
    everyone = await customers.all_customers()
    built = await reports.build(everyone, period, desk.now(), desk.sla, desk.settings.timezone)
    await send_report(message, built, lang, t(lang, "report.all_customers"))
    lines = []
    for customer in everyone:
        one = await reports.build([customer], period, desk.now(), desk.sla, desk.settings.timezone)
        share = f"{round(100 * one.share_met)}%" if one.share_met is not None else t(lang, "report.no_share")
        lines.append(t(lang, "report.per_customer", code=customer.code, opened=one.total_opened, share=share,
                       breaches=len(one.breaches)))
    if lines:
        await respond(message, "\n".join(lines))


def _export_args(words: list[str]) -> tuple[str | None, list[str]]:
    """`[CODE] [PERIOD]`: a first word that is no period word and no date is the customer code."""
    if words and words[0].lower() not in reports.UNITS and not words[0][:1].isdigit():
        return words[0], words[1:]
    return None, words


async def export(message: Message, command: CommandObject, desk: Desk) -> None:
    code, period_words = _export_args(split(command, 0, 3))
    chosen = [await customers.get_customer(code)] if code else await customers.all_customers()
    zone = zone_of(chosen[0], desk.settings) if code else desk.settings.timezone
    period = parse_period(period_words, desk.now(), zone)
    rows = await reports.export_rows(chosen, period, desk.now(), desk.sla)
    text = reports.to_csv(reports.EXPORT_COLUMNS, rows)
    name = f"incidents-{code.upper() if code else 'all'}-{period.first_day}-{period.last_day}.csv"
    await message.answer_document(BufferedInputFile(text.encode("utf-8"), name))


async def quote(message: Message, command: CommandObject, desk: Desk) -> None:
    lang = desk.lang
    plan, users, cts, ha = split(command, 4, 4)
    plan, ha = customers.check_plan(plan), ha.lower()
    if not users.isdigit() or not cts.isdigit():
        raise DeskError("usage.quote")
    if ha not in HA_SETUPS:
        raise DeskError("err.bad_choice", field="ha", value=ha, allowed=" ".join(HA_SETUPS))
    tariff = desk.settings.policy.tariff
    price = customers.price_estimate(tariff, plan, int(users), int(cts), ha)
    await respond(message, t(lang, "quote.result", plan=named(lang, "words.plan", plan),
                             users=Counted("words.n.users", int(users)), servers=Counted("words.n.servers", int(cts)),
                             ha=named(lang, "words.ha", ha), price=money(price, tariff.currency, lang)))


async def announce(message: Message, command: CommandObject, desk: Desk) -> None:
    lang, update_id = desk.lang, desk.update_id
    target, text = split(command, 2, 2, rest=True)
    if len(text) > ANNOUNCE_LIMIT:
        raise DeskError("err.too_long", limit=ANNOUNCE_LIMIT)
    await invitations.refuse_live_code(text, desk.now(), "leak.announce_refused")  # every chosen chat reads it
    chosen = await customers.addressed(target)
    count = 0
    now = desk.now()
    for customer in chosen:
        for chat in await customers.conversations_of(customer):
            if not chatroom.takes_chat_notices(chat.channel):
                continue  # a mail address hears of its own incidents only
            contacts = ", ".join(customer.contacts) or outbox.word("announce.no_contacts")
            # Keyed by the update: when the answer below fails and the update is handled again, no
            # customer gets the notice twice.
            await outbox.enqueue("announce", outbox.conversation(chat), now,
                                 params=outbox.say("announce.text", text=text, contacts=contacts),
                                 dedupe=f"announce:u{update_id}:{chat.ref}" if update_id is not None else None)
            count += 1
    await respond(message, t(lang, "announce.queued", chats=Counted("words.n.chats", count),
                             customers=Counted("words.n.customers", len(chosen))))


def build_router() -> Router:
    router = Router(name="reports")
    router.message.filter(looks_like_command)
    router.message.register(report, cmd("report"))
    router.message.register(sla_report, cmd("sla_report"))
    router.message.register(export, cmd("export"))
    router.message.register(quote, cmd("quote"))
    router.message.register(announce, cmd("announce"))
    return router
