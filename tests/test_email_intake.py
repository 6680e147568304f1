"""Mail through the desk's intake: binding by address or domain, the unbound inbox, threading by the key
in the subject, then by Message-IDs, else a new incident; machine mail opens nothing; acknowledgements
are owed once and at most a few an hour."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.settings import load_settings
from domain import customers
from domain.errors import DeskError
from domain.identities import EMAIL
from domain.intake import Windows, record_bot_message
from domain.mail_intake import IncomingMail, take_mail
from domain.mail_rules import MailFacts
from domain.models import Conversation, Incident, IncidentMessage, UnboundMessage
from domain.sla import Sla
from handlers.args import email_binding
from tests.stub_api import TOKEN

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DESK = "support@vendor.example"
WINDOWS = Windows(thread=timedelta(hours=4), reopen=timedelta(hours=72))


@pytest.fixture
async def acme(db):
    await customers.add_customer("ACME", "24x7", "Acme", NOW)
    await customers.add_customer("BETA", "8x5", "Beta", NOW)
    await bind("ACME", "acme.ru")
    await bind("BETA", "boss@acme.ru")  # one address of the domain is Beta's
    settings = load_settings({"BOT_TOKEN": TOKEN})
    return Sla(settings.policy)


n = 0


async def bind(code: str, text: str):
    return await customers.bind_email(await customers.get_customer(code), *email_binding(text), None, NOW)


def mail(subject="Сервер недоступен", sender="ivan@acme.ru", key=None, thread=(), text="Никто не может войти",
         **facts) -> IncomingMail:
    global n
    n += 1
    return IncomingMail(sender=sender, sender_name="Иван", message_id=f"<m{n}@acme.ru>", subject=subject, key=key,
                        thread_ids=tuple(thread), text=text, attachments=[], sent_at=NOW,
                        facts=MailFacts(sender, **facts))


async def take(sla, m, **kw):
    created = []

    async def on_created(incident, ref, now, acknowledge):
        created.append((incident.key, ref, acknowledge))

    result = await take_mail(m, DESK, sla, WINDOWS, NOW, on_created=on_created, **kw)
    return result, created


async def test_binding_by_domain_and_address(acme):
    rows = await Conversation.filter(channel=EMAIL).order_by("id").values_list("ref", "kind")
    assert rows == [("acme.ru", "domain"), ("boss@acme.ru", "address")]
    with pytest.raises(DeskError) as exc:
        await bind("ACME", "not an address")
    assert exc.value.key == "email.bad_address"
    with pytest.raises(DeskError):
        await bind("ACME", "ACME.ru")  # bound already (addresses compare lower-case)
    assert await Conversation.filter(channel=EMAIL).count() == 2


@pytest.mark.parametrize(("value", "ok"), [
    ("acme.ru", True), ("@acme.ru", True), ("Ivan.Petrov@Acme.RU", True), ("mail.acme.co.uk", True),
    ("acme", False), ("ivan@", False), ("ivan@acme", False), ("a b@acme.ru", False), (".ivan@acme.ru", False),
    ("-acme.ru", False), ("acme..ru", False), ("", False)])
async def test_what_may_be_bound(db, value, ok):
    await customers.add_customer("ACME", "24x7", "Acme", NOW)
    if ok:
        conversation = await bind("ACME", value)
        assert conversation.ref == value.lower().removeprefix("@")
    else:
        with pytest.raises(DeskError):
            await bind("ACME", value)


async def test_a_mail_opens_an_incident_titled_by_its_subject(acme):
    opening = mail()
    result, created = await take(acme, opening)
    incident = result.incident
    assert (result.outcome, incident.key, incident.title) == ("intake", "ACME-1", "Сервер недоступен")
    assert created == [("ACME-1", opening.message_id, True)] and result.acknowledged
    stored = await IncidentMessage.get(incident=incident)
    assert stored.ref == opening.message_id and stored.text == "Сервер недоступен\n\nНикто не может войти"
    assert stored.source == "customer" and stored.author == "Иван"


async def test_the_address_wins_over_the_domain(acme):
    result, _ = await take(acme, mail(sender="boss@acme.ru"))
    assert result.incident.key == "BETA-1"


async def test_mail_from_nobody_bound_goes_to_the_unbound_inbox(acme):
    result, created = await take(acme, mail(sender="someone@other.example"))
    assert result.outcome == "unbound" and created == [] and not await Incident.exists()
    kept = await UnboundMessage.get()
    assert kept.text.startswith("Сервер недоступен")


async def test_the_key_in_the_subject_wins(acme):
    first, _ = await take(acme, mail())
    second, _ = await take(acme, mail(subject="Другая проблема"))
    assert second.incident.key == "ACME-2"  # no key, no reference: a new incident, however recent the last
    third, created = await take(acme, mail(subject="ещё", key="ACME-1", thread=("<m2@acme.ru>",)))
    assert (third.outcome, third.incident.key, created) == ("joined", "ACME-1", [])
    assert await IncidentMessage.filter(incident_id=first.incident.id).count() == 2


async def test_another_customers_key_is_ignored(acme):
    beta, _ = await take(acme, mail(sender="boss@acme.ru"))
    result, _ = await take(acme, mail(key=beta.incident.key))
    assert result.incident.key == "ACME-1" and result.outcome == "intake"
    assert await IncidentMessage.filter(incident_id=beta.incident.id).count() == 1


async def test_references_thread_to_the_customers_and_the_desks_own_mail(acme):
    opening = mail()
    first, _ = await take(acme, opening)
    await record_bot_message(first.incident.id, EMAIL, "acme.ru", "<ack-1@vendor.example>", "ack", NOW)
    by_desk, _ = await take(acme, mail(subject="Re: Сервер недоступен", thread=("<ack-1@vendor.example>",)))
    by_own, _ = await take(acme, mail(subject="ещё", thread=("<nothing@x>", opening.message_id)))
    assert by_desk.incident.key == by_own.incident.key == "ACME-1"
    assert by_desk.outcome == by_own.outcome == "joined"


async def test_a_reply_to_a_resolved_incident_reopens_it(acme):
    first, _ = await take(acme, mail())
    await Incident.filter(id=first.incident.id).update(status="resolved", resolved_at=NOW - timedelta(hours=1))
    reopened = []

    async def on_reopened(incident):
        reopened.append(incident.key)

    result, _ = await take(acme, mail(key="ACME-1"), on_reopened=on_reopened)
    assert reopened == ["ACME-1"] and (await Incident.get(id=first.incident.id)).status == "in_progress"
    assert result.outcome == "joined"


@pytest.mark.parametrize(("facts", "outcome"), [
    ({"auto_submitted": "auto-replied"}, "auto-reply"), ({"null_return_path": True}, "bounce")])
async def test_machine_replies_open_nothing(acme, facts, outcome):
    result, created = await take(acme, mail(**facts))
    assert (result.outcome, created) == (outcome, []) and not await Incident.exists()


async def test_own_mail_opens_nothing(acme):
    result, _ = await take(acme, mail(sender=DESK))
    assert result.outcome == "own" and not await Incident.exists()


async def test_machine_mail_is_intake_but_not_acknowledged(acme):
    bulk = mail(precedence="bulk")
    result, created = await take(acme, bulk)
    assert result.outcome == "intake" and created == [("ACME-1", bulk.message_id, False)]


async def test_at_most_three_acknowledgements_an_hour(acme):
    acks = []
    for i in range(5):
        result, _ = await take(acme, mail(subject=f"problem {i}"))
        acks.append(result.acknowledged)
    assert acks == [True, True, True, False, False]
    assert await Incident.all().count() == 5  # every mail is still taken in


async def test_the_same_mail_twice_is_one_message(acme):
    m = mail()
    await take(acme, m)
    again, created = await take(acme, m)
    assert again.outcome in ("duplicate", "joined") and created == []
    assert await IncidentMessage.all().count() == 1 and await Incident.all().count() == 1


async def test_a_lead_binds_mail_with_customer_set(desk):
    from domain.models import Conversation as Conv
    from locales import t
    from tests.people import LEAD, lead

    await customers.add_customer("ACME", "24x7", "Acme", desk.clock.now())
    await desk.say(LEAD, lead, "/customer_set ACME email Acme.ru")
    await desk.say(LEAD, lead, "/customer_set acme email ivan@other.example")
    replies = desk.replies(LEAD)
    assert replies[-2].startswith(t("en", "email.bound", code="ACME", ref="acme.ru"))
    assert replies[-1].startswith(t("en", "email.bound", code="ACME", ref="ivan@other.example"))
    assert "acme.ru" in replies[-1] and "ivan@other.example" in replies[-1]  # the card lists both
    await desk.say(LEAD, lead, "/customer_set ACME email acme")
    assert desk.replies(LEAD)[-1] == t("en", "email.bad_address", value="acme")
    assert await Conv.filter(channel=EMAIL, customer__code="ACME").count() == 2
