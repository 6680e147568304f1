"""Threading against hostile and odd mail: another customer's key or Message-IDs (held), a second tracker's
key in the subject, an internationalised domain written as Unicode."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.settings import load_settings
from domain import customers, mailbox
from domain.models import Incident, IncidentMessage
from domain.sla import Sla
from handlers.email.intake import make_deliver
from handlers.email.parser import parse_mail
from tests.clock import FrozenClock
from tests.stub_api import TOKEN
from tests.test_attack_mail_identity import WINDOWS, raw


@pytest.fixture
async def take(db):
    clock = FrozenClock()
    for code in ("ACME", "BETA", "RF"):
        await customers.add_customer(code, "24x7", code.title(), clock.now())
    await customers.bind_email(await customers.get_customer("ACME"), "acme.ru", "domain", None, clock.now())
    await customers.bind_email(await customers.get_customer("BETA"), "beta.example", "domain", None, clock.now())
    await customers.bind_email(await customers.get_customer("RF"), "xn--e1afmkfd.xn--p1ai", "domain", None,
                               clock.now())
    deliver = make_deliver("support@vendor.example", Sla(load_settings({"BOT_TOKEN": TOKEN}).policy), WINDOWS, clock)
    uids = iter(range(1, 1000))

    async def take_one(data: bytes) -> str | None:
        clock.advance(timedelta(minutes=1))
        parsed = parse_mail(data)
        return await mailbox.take_in("box", 1, next(uids), parsed.message_id, parsed.sender, clock.now(),
                                     lambda: deliver(parsed))
    return take_one


async def texts(key: str) -> list[str]:
    return await IncidentMessage.filter(incident__key=key, source="customer").order_by("id").values_list("text",
                                                                                                          flat=True)


async def test_another_customers_key_and_ids_open_nothing_of_theirs(take):
    """Held: Acme's sender naming [BETA-1] or answering Beta's Message-IDs never writes into BETA-1."""
    assert await take(raw("ops@beta.example", "Payments down", "cards fail", mid="<b1@beta.example>")) == "intake"
    assert await take(raw("ivan@acme.ru", "Re: [BETA-1] Payments down", "injected 1", mid="<a1@acme.ru>")) == "intake"
    assert await take(raw("ivan@acme.ru", "Re: Payments down", "injected 2", mid="<a2@acme.ru>",
                          extra="In-Reply-To: <b1@beta.example>\r\nReferences: <b1@beta.example>\r\n")) == "intake"
    assert await texts("BETA-1") == ["Payments down\n\ncards fail"]
    assert await Incident.filter(customer__code="ACME").count() == 2


async def test_the_desks_key_is_found_after_another_trackers(take):
    assert await take(raw("ivan@acme.ru", "Server down", "nobody can log in", mid="<a1@acme.ru>")) == "intake"
    outcome = await take(raw("ivan@acme.ru", "[INC-4471] Re: [ACME-1] Server down", "still down", mid="<a2@acme.ru>"))
    assert outcome == "joined"
    assert await texts("ACME-1") == ["Server down\n\nnobody can log in", "still down"]


async def test_an_internationalised_domain_matches_its_punycode(take):
    data = "From: Иван <ivan@пример.рф>\r\nTo: support@vendor.example\r\nSubject: Сервер упал\r\n" \
           "Message-ID: <rf1@xn--e1afmkfd.xn--p1ai>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nНе работает\r\n"
    assert await take(data.encode()) == "intake"
    assert await Incident.filter(customer__code="RF").exists()
