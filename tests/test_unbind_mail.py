"""`/unbind email ADDRESS|DOMAIN` with e-mail on (an SMTP sink takes the mail): an address or domain bound by
mistake is unbound, in any letter case; its open incident stays as it was, its next mail goes to the unbound
inbox, and the periodic report is no longer mailed to it. An address whose domain stays bound still reaches
that customer, and the answer says so."""

import pytest

from domain.errors import Named
from domain.models import Conversation, Customer, Incident
from handlers.email.intake import make_deliver
from handlers.email.parser import parse_mail
from locales import t
from tests.people import LEAD, lead
from tests.test_attack_mail_identity import WINDOWS, raw
from tests.test_mail_reports import DESK, desk, run_report_job, smtp, weekly_customer  # noqa: F401 (fixtures)

USAGE = Named("usage", "unbind")
EMAIL = Named("desk.channel", "email")


async def acme(desk) -> None:  # noqa: F811
    """ACME with weekly reports and two incidents in the last week (made directly: its key counter follows)."""
    await weekly_customer(desk, group=False)
    await Customer.filter(code="ACME").update(incident_seq=2)


def mailer(desk):  # noqa: F811
    """A mail reaches the desk's mailbox and goes through the e-mail intake; returns its outcome."""
    deliver = make_deliver(DESK, desk.dp["desk"].sla, WINDOWS, desk.clock)
    count = iter(range(1, 1000))

    async def mail(sender: str, subject: str) -> str:
        return await deliver(parse_mail(raw(sender, subject, "details", mid=f"<unbind-{next(count)}@mail.acme.ru>")))
    return mail


async def test_an_address_bound_by_mistake_is_unbound_and_hears_no_more(desk):  # noqa: F811
    await acme(desk)
    mail = mailer(desk)
    await desk.say(LEAD, lead, "/customer_set ACME email Ivan@Acme.ru")
    await desk.say(LEAD, lead, "/customer_set ACME email olga@acme.ru")
    assert await mail("ivan@acme.ru", "Backups fail") == "intake"
    incident = await Incident.get(key="ACME-3")
    await desk.say(LEAD, lead, "/customer ACME")
    assert "  • email: ivan@acme.ru\n" in desk.last_reply(LEAD)

    await desk.say(LEAD, lead, "/unbind EMAIL IVAN@ACME.RU")
    assert desk.last_reply(LEAD) == t("en", "unbind.done", code="ACME", name="Acme Logistics", channel=EMAIL,
                                      conversation="ivan@acme.ru")
    assert await Conversation.filter(channel="email", ref="ivan@acme.ru", customer_id__isnull=True).exists()
    assert (await Incident.get(id=incident.id)).status == incident.status

    assert await mail("ivan@acme.ru", "Re: Backups fail") == "unbound"
    assert await Incident.filter(customer__code="ACME").count() == 3
    await desk.say(LEAD, lead, "/unbound")
    assert "email: ivan@acme.ru (ivan@acme.ru)" in desk.last_reply(LEAD)

    await run_report_job(desk)
    assert [m["To"] for m in desk.smtp.mails] == ["olga@acme.ru"]  # the report, to the bound address only


async def test_an_address_under_a_bound_domain_still_reaches_it_and_the_lead_is_told(desk):  # noqa: F811
    await acme(desk)
    mail = mailer(desk)
    await desk.say(LEAD, lead, "/customer_set ACME email @acme.ru")
    await desk.say(LEAD, lead, "/customer_set ACME email ivan@acme.ru")
    await desk.say(LEAD, lead, "/unbind email ivan@acme.ru")
    assert desk.last_reply(LEAD) == (
        t("en", "unbind.done", code="ACME", name="Acme Logistics", channel=EMAIL, conversation="ivan@acme.ru")
        + "\n" + t("en", "unbind.still_by_domain", code="ACME", domain="acme.ru", command="/unbind email acme.ru"))
    assert await mail("ivan@acme.ru", "Disk full") == "intake"  # by its domain

    await desk.say(LEAD, lead, "/unbind email @Acme.RU")
    assert desk.last_reply(LEAD) == t("en", "unbind.done", code="ACME", name="Acme Logistics", channel=EMAIL,
                                      conversation="acme.ru")
    assert await mail("ivan@acme.ru", "Disk full again") == "unbound"
    assert await mail("petr@acme.ru", "Printer") == "unbound"


@pytest.mark.parametrize(("ref", "key"), [
    ("acme", "unbind.bad_ref"), ("ivan@@acme.ru", "unbind.bad_ref"), ("ivan@beta.example", "unbind.not_bound"),
    ("beta.example", "unbind.not_bound"),
])
async def test_a_bad_or_unbound_address_is_answered_and_changes_nothing(desk, ref, key):  # noqa: F811
    await acme(desk)
    await desk.say(LEAD, lead, "/customer_set ACME email ivan@acme.ru")
    await desk.say(LEAD, lead, f"/unbind email {ref}")
    assert desk.last_reply(LEAD) == t("en", key, channel=EMAIL, ref=ref, usage=USAGE)
    assert await Conversation.filter(channel="email", customer_id__isnull=False).count() == 1


async def test_an_address_bound_elsewhere_names_the_command_that_frees_it(desk):  # noqa: F811
    await acme(desk)
    await desk.say(LEAD, lead, "/customer_add BETA 8x5 Beta LLC")
    await desk.say(LEAD, lead, "/customer_set ACME email ivan@acme.ru")
    await desk.say(LEAD, lead, "/customer_set BETA email IVAN@acme.ru")
    assert desk.last_reply(LEAD) == t("en", "unbind.email_taken", ref="ivan@acme.ru", code="ACME",
                                      command="/unbind email ivan@acme.ru")
    await desk.say(LEAD, lead, "/unbind email ivan@acme.ru")
    await desk.say(LEAD, lead, "/customer_set BETA email ivan@acme.ru")
    chat = await Conversation.get(channel="email", ref="ivan@acme.ru").select_related("customer")
    assert chat.customer.code == "BETA"
