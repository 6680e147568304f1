"""The e-mail channel (`domain.channels.Channel`): owed notices to customers who wrote by mail leave as
mail in the incident's thread, rendered in the customer's language when they are sent.

A row is addressed to a person on channel "email" (their address is their identity there). The
acknowledgement has its own text (`render.ack_mail`); any other customer notice (`domain.outbox.say`:
an engineer took it, it was resolved) is its text as a mail. Every mail answers the customer's latest
mail of the incident and carries the thread's Message-IDs, and the desk's own Message-ID is stored as a
message of the incident, so an answer to it threads back in. A periodic report (no incident) goes to a
customer's contact as one mail: the text and the chart attached.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime

from domain import identities, intake, report_chart, reports
from domain.channels import Delivered, Failed, Retry, Verdict
from domain.clock import Clock
from domain.lang import of_chat_row, of_conversation
from domain.models import Conversation, Incident, IncidentMessage, Outbox
from domain.sla import Sla
from handlers.email.render import ack_mail, reply_mail, report_mail
from handlers.email.smtp import OutgoingMail, SendError, SmtpSender, compose
from handlers.formatting import zone_of
from handlers.telegram_channel import said
from locales import report_text

NAME = identities.EMAIL
RETRY_AFTER = 60.0  # seconds: a mail server that is away or busy is asked again a minute later
THREAD_KEPT = 20
# Mail servers limit connections per client (often to a few); the courier's round may hold 20 mails.
SMTP_CONNECTIONS = 3


class Unsendable(Exception):
    """A row this channel cannot turn into a mail: no incident, no address for its person."""


class EmailChannel:
    name = NAME

    def __init__(self, sender: SmtpSender, clock: Clock, settings) -> None:
        self.sender, self.clock, self.settings = sender, clock, settings
        self.sla = Sla(settings.policy)
        self._connections = asyncio.Semaphore(SMTP_CONNECTIONS)

    async def reserve(self, row: Outbox) -> float:
        return time.monotonic()  # a few mails an hour, a burst of reports on the 1st: no slots of its own

    async def until(self, slot: float) -> None:
        return None

    def busy(self) -> set[str]:
        return set()

    async def _thread(self, incident: Incident) -> tuple[str | None, tuple[str, ...], Conversation | None]:
        """The Message-ID to answer (the customer's latest mail), the thread before it, and its conversation."""
        rows = await IncidentMessage.filter(incident_id=incident.id, conversation__channel=NAME).order_by(
            "id").select_related("conversation")
        ids = [row.ref for row in rows if row.source != "staff"]  # a /reply's own ref is no Message-ID
        latest = next((row for row in reversed(rows) if row.source == "customer"), None)
        conversation = latest.conversation if latest else (rows[-1].conversation if rows else None)
        answered = latest.ref if latest else None
        return answered, tuple(ids[-THREAD_KEPT:]), conversation

    async def _last_writer(self, incident: Incident) -> str | None:
        latest = await IncidentMessage.filter(incident_id=incident.id, source="customer",
                                              conversation__channel=NAME).order_by("-id").first()
        if latest is None or latest.author_id is None:
            return None
        return await identities.address_of(latest.author_id, NAME)

    async def render(self, row: Outbox, now: datetime) -> tuple[OutgoingMail, Conversation | None]:
        if row.kind == "report" and row.person_id is not None:
            return await self._report(row, now), None
        if row.incident_id is None or row.person_id is None:
            raise Unsendable(f"{row.kind} without an incident or a person")
        incident = await Incident.get_or_none(id=row.incident_id).select_related("customer")
        to = await identities.address_of(row.person_id, NAME)
        if incident is None or to is None:
            raise Unsendable("the incident or the address is gone")
        lang = await of_conversation(incident.conversation_id, self.settings.default_lang)
        answered, references, conversation = await self._thread(incident)
        params = row.params or {}
        if row.kind == "ack":
            limit = self.settings.mail.max_size if params.get("oversize") else None
            mail = ack_mail(incident, lang, self.sla, zone_of(incident.customer, self.settings), now, to=to,
                            subject=incident.title, answered=answered, references=references, oversize_limit=limit)
        elif row.kind == "reply":  # a staff member's answer (/reply): their words, signed, not auto-submitted
            mail = reply_mail(incident, params["answer"], params.get("author", ""), self.settings.mail.sender, to,
                              answered, references)
            # The answer goes to whoever wrote last (it answers their mail), the reporter copied: as a person
            # answering in a mail program with "Reply all" would. Only the customer's own people write here.
            writer = await self._last_writer(incident)
            if writer and writer != to:
                mail = dataclasses.replace(mail, to=writer, cc=(to,))
        elif "say" in params:
            mail = OutgoingMail(to=to, key=incident.key, subject=f"Re: {incident.title}", text=said(lang, params),
                                in_reply_to=answered, references=references, auto_submitted="auto-generated",
                                kind=row.kind)
        else:
            raise Unsendable(f"no mail for a {row.kind} notice")
        return mail, conversation

    async def _report(self, row: Outbox, now: datetime) -> OutgoingMail:
        """A periodic report for a customer's contact: the figures the customer's chat reads (no advice meant
        for the team), in the customer's language, the chart attached."""
        to = await identities.address_of(row.person_id, NAME)
        owed = await reports.build_owed(row.params, now, self.sla, self.settings.timezone)
        if to is None or owed is None:
            raise Unsendable("the address or the customer is gone")
        customer, built = owed
        bound = await identities.conversation_of(NAME, to)
        if bound is None or bound.customer_id != customer.id:  # unbound or rebound since: never another's figures
            raise Unsendable(f"{to} is no longer bound to {customer.code}")
        lang = of_chat_row(bound, self.settings.default_lang)  # the customer's language, as its mails read it
        name = f"{customer.name} ({customer.code})"
        chart = report_chart.render(built, report_text.chart_labels(built, lang, name))
        return report_mail(customer.code, report_text.title(built, lang, name),
                           report_text.render(built, lang, name, for_leads=False), chart, to)

    async def send(self, row: Outbox) -> Delivered:
        now = self.clock.now()
        mail, _ = await self.render(row, now)
        msg = compose(mail, self.settings.mail, now)
        async with self._connections:  # the courier hands over a round side by side: a relay sees a few at most
            await self.sender.send(msg, kind=mail.kind)
        return Delivered(ref=msg["Message-ID"], text=mail.text)

    async def record(self, row: Outbox, delivered: Delivered) -> None:
        """The mail's Message-ID (kept in the row too) becomes a message of the incident's thread, so an
        answer to it threads back in."""
        if row.incident_id is None or delivered.ref is None:
            return
        incident = await Incident.get_or_none(id=row.incident_id)
        _, _, conversation = await self._thread(incident) if incident else (None, (), None)
        if conversation is not None:
            await intake.record_bot_message(row.incident_id, NAME, conversation.ref, delivered.ref, delivered.text,
                                            self.clock.now())

    async def classify(self, row: Outbox, error: BaseException) -> Verdict | None:
        if isinstance(error, Unsendable):
            return Failed(str(error))
        if not isinstance(error, SendError):
            return None
        if error.permanent:
            return Failed(str(error))  # the address refuses mail for good: logged, not retried
        return Retry(str(error), RETRY_AFTER)
