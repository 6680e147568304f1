"""After `/unbind` a chat is nobody's (it may be someone else's chat soon): nothing of its old incidents is
posted there, and staff hear so instead of thinking the customer was told (issue 14). The eXpress side:
tests/test_attack_rooms3_unbind.py."""

import pytest

from domain.models import Incident, IncidentMessage, Outbox
from locales import t
from tests.people import ENGINEER, GROUP, LEAD, OTHER_GROUP, customer, engineer, lead
from tests.stub_api import StubBotAPI
from tests.test_desk_web import web  # noqa: F401  (the fixture)
from tests.test_unbind import acme, answers  # noqa: F401  (the fixture)

russian_engineer = StubBotAPI.user(ENGINEER, "eng_boris", lang="ru")


async def test_a_resolve_after_the_unbind_posts_nothing_there_and_says_the_customer_was_not_told(acme):  # noqa: F811
    await acme.say(LEAD, lead, f"/unbind telegram {GROUP}")
    mark = acme.stub.mark()
    await acme.say(ENGINEER, engineer, "/resolve ACME-1 Replaced the toner")
    assert (await Incident.get(key="ACME-1")).status == "resolved"
    assert answers(acme, GROUP, mark) == []  # no summary, no rating buttons that could rate nothing
    assert answers(acme, ENGINEER, mark) == [t("en", "unbind2.resolved_chat_gone", key="ACME-1")]
    assert await Outbox.filter(kind="customer", status="dropped").count() == 1


@pytest.mark.parametrize("then", ["unbound", "bound to another customer"])
async def test_a_reply_to_an_incident_whose_chat_is_no_longer_its_customers_is_refused(acme, then):  # noqa: F811
    await acme.say(LEAD, lead, f"/unbind telegram {GROUP}")
    if then != "unbound":
        await acme.say(LEAD, lead, "/invite BETA")
        await acme.say(GROUP, lead, "/bind BETA")
    stored = await IncidentMessage.all().count()
    mark = acme.stub.mark()
    await acme.say(ENGINEER, engineer, "/reply ACME-1 Restarted the VPN gateway")
    assert answers(acme, ENGINEER, mark) == [t("en", "unbind2.reply_chat_gone", key="ACME-1")]
    assert all("VPN gateway" not in text for text in answers(acme, GROUP, mark))
    incident = await Incident.get(key="ACME-1")
    assert (incident.responded_at, await IncidentMessage.all().count()) == (None, stored)


async def test_a_reply_still_reaches_a_chat_that_is_its_customers(acme):  # noqa: F811
    mark = acme.stub.mark()
    await acme.say(ENGINEER, engineer, "/reply ACME-1 Restarted the VPN gateway")
    assert any("VPN gateway" in text for text in answers(acme, GROUP, mark))


async def test_staff_writing_in_a_group_unbound_meanwhile_are_told_in_their_language(acme):  # noqa: F811
    await acme.say(LEAD, lead, f"/unbind telegram {GROUP}")
    first = (await IncidentMessage.get(text="The VPN is down"))
    mark = acme.stub.mark()
    await acme.say(GROUP, russian_engineer, "Fixed: restarted the gateway", reply_to_message_id=int(first.ref))
    assert answers(acme, GROUP, mark) == [t("ru", "unbind2.staff_in_unbound")]
    assert (await Incident.get(key="ACME-1")).responded_at is None


async def test_staff_chatting_in_an_unbound_group_without_open_incidents_hear_nothing(acme):  # noqa: F811
    await acme.say(LEAD, lead, f"/unbind telegram {OTHER_GROUP}")  # BETA's chat, which never wrote
    mark = acme.stub.mark()
    await acme.say(OTHER_GROUP, engineer, "Good morning")
    assert answers(acme, OTHER_GROUP, mark) == []
    await acme.say(GROUP, customer, "Still down")  # ACME's chat is still bound: intake as ever
    assert answers(acme, GROUP, mark) == []


async def test_parked_names_the_channel_each_update_came_from(desk):
    """A MAX chat's id and a Telegram chat's look alike: `/parked` says whose each is."""
    from domain import parked
    now = desk.clock.now()
    tg_row, _ = await parked.park('{"message": {"text": "Portal is down"}}', update_id=77, chat_id=-100500,
                                  reason="failing", error="ConnectionError", now=now)
    await parked.park('{"message": {"text": "Printer"}}', update_id=None, chat_id=-72,
                      reason="unparseable", error="ValueError", now=now, channel="max")
    await desk.say(LEAD, lead, "/parked")
    listing = desk.last_reply(LEAD)
    assert f"#{tg_row.id} · update 77" in listing and "chat -100500 (Telegram)" in listing, listing
    assert "chat -72 (MAX)" in listing, listing


async def test_the_desk_page_counts_the_parked_ones_per_channel(web):  # noqa: F811
    from bot.desk_web import COOKIE
    from domain import parked
    from tests.test_desk_web import sign_in
    desk, client = web
    now = desk.clock.now()
    for chat_id, channel in ((-100500, "telegram"), (-72, "max"), (-73, "max")):
        await parked.park(f'{{"chat": {chat_id}}}', update_id=None, chat_id=chat_id, reason="failing", error="E",
                          now=now, channel=channel)
    session = await sign_in(desk, client)
    page = await (await client.get("/desk", cookies={COOKIE: session})).text()
    assert '<dd class="bad">3 (Telegram: 1, MAX: 2)</dd>' in page, page


async def test_an_answer_still_owed_when_the_chat_is_unbound_is_dropped_and_its_author_told(acme):  # noqa: F811
    from domain import customers
    message = acme.stub.make_message(ENGINEER, engineer, "/reply ACME-1 Restarted the VPN gateway",
                                     date=int(acme.clock.now().timestamp()))
    await acme.dp.feed_raw_update(acme.bot, {"update_id": next(acme.stub.update_ids), "message": message})
    assert (await Outbox.get(kind="reply")).status == "pending"  # owed, not sent yet
    await customers.unbind("telegram", str(GROUP))  # what `/unbind telegram GROUP` does, meanwhile
    mark = acme.stub.mark()
    await acme.flush()
    assert (await Outbox.get(kind="reply")).status == "dropped"
    assert all("VPN gateway" not in text for text in answers(acme, GROUP, mark))
    assert answers(acme, ENGINEER, mark) == [t("en", "unbind2.reply_dropped", key="ACME-1")]
