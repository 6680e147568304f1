"""A live one-time code the desk sees where a customer's people read it (their eXpress/MAX chat, Telegram group,
mail) is burnt: used up, kept as burnt where it was seen and by whom, the chat told without the code, and the
lead who made it told in their language to make a new one. And a button of an incident is honoured only while
the chat it is pressed in is still that incident's customer's."""

import re

from domain import customers, invitations, people
from domain.identities import EMAIL, person_for
from domain.models import Conversation, Incident, Invitation, Outbox, Staff
from handlers.chatroom import PRIORITY, action
from handlers.keyboards import RateButton
from locales import t
from tests import test_chatroom as base
from tests import test_email_intake as mail_base
from tests.people import CUSTOMER, ENGINEER, GROUP, LEAD, customer, engineer, lead
from tests.test_chatroom import ANNA, CHAT, bound_chat, code_for, msg, press

rdesk = base.rdesk  # its fixture
acme = mail_base.acme


async def staff_invitation(rdesk) -> str:
    await rdesk.say(LEAD, lead, "/staff_invite engineer")
    return re.search(r"\?start=(\S+)", rdesk.last_reply(LEAD))[1]


async def test_a_code_shown_in_a_chat_room_is_burnt_the_chat_and_its_maker_told(rdesk):
    chat = await bound_chat(rdesk)
    await rdesk.say(LEAD, lead, "/lang ru")  # the lead reads Russian, the chat English
    token = await staff_invitation(rdesk)
    said = await rdesk.room.message(msg(rdesk, f"here: https://t.me/desk_bot?start={token} (oops)"))
    assert [s.text for s in said] == [t("en", "burn.shown")]
    assert not any(token in s.text for s in said)
    burnt = await Invitation.get(kind="staff")
    anna = await person_for("express", ANNA, rdesk.clock.now())
    assert (burnt.burnt_at, burnt.used_conversation_id, burnt.used_by) == (rdesk.clock.now(), chat.id, anna.id)
    assert await Incident.all().count() == 0  # the paste is no problem report
    await rdesk.flush()
    told = rdesk.last_reply(LEAD)
    assert told.startswith("⚠️") and t("ru", "burn.what.staff") in told and "Acme support" in told, told
    assert token not in told
    await rdesk.say(CUSTOMER, customer, f"/start {token}")
    assert rdesk.last_reply(CUSTOMER) == t("ru", "err.invite_used")  # a Russian-speaking customer
    assert not await Staff.exists(user_id=CUSTOMER, active=True)


async def test_a_used_code_in_a_chat_is_no_news_and_an_ordinary_message_burns_nothing(rdesk):
    await bound_chat(rdesk)
    code = await code_for(rdesk, "BETA")
    await rdesk.room.message(msg(rdesk, "KB4023057-rollback-fails again"))  # looks like one, is none
    assert await Incident.all().count() == 1
    assert not await Invitation.filter(burnt_at__isnull=False).exists()
    assert await Outbox.filter(dedupe__startswith="burnt:").count() == 0
    await rdesk.room.message(msg(rdesk, code))
    await rdesk.room.message(msg(rdesk, code))  # burnt already: the maker is told once
    assert await Outbox.filter(dedupe__startswith="burnt:").count() == 1


async def test_a_code_shown_in_a_telegram_customer_group_is_burnt(rdesk):
    await rdesk.say(GROUP, lead, "/bind ACME", chat={"id": GROUP, "type": "supergroup", "title": "Acme group"})
    token = await staff_invitation(rdesk)
    await rdesk.say(GROUP, lead, token, chat={"id": GROUP, "type": "supergroup", "title": "Acme group"})
    assert rdesk.last_reply(GROUP) == t("en", "burn.shown")
    assert (await Invitation.get(kind="staff")).burnt_at is not None
    await rdesk.say(CUSTOMER, customer, f"/start {token}")
    assert not await Staff.exists(user_id=CUSTOMER, active=True)
    assert await Incident.all().count() == 0


async def test_a_code_in_a_customers_mail_is_burnt_the_mail_taken_in(acme):
    now = mail_base.NOW
    await people.ensure_leads(frozenset({LEAD}), now)
    token = await invitations.create("staff", LEAD, now, role="engineer")
    result, _ = await mail_base.take(acme, mail_base.mail(text=f"Your colleague sent us this: {token}"))
    assert result.outcome == "intake"
    invitation = await Invitation.get(kind="staff")
    assert invitation.burnt_at == now and invitation.used_conversation_id == (await Conversation.get(ref="acme.ru")).id
    ivan = await person_for(EMAIL, "ivan@acme.ru", now)
    told = await Outbox.filter(person_id=ivan.id, kind="notice").values_list("params", flat=True)
    assert told == [{"say": "burn.shown_mail", "args": {}}]
    assert await Outbox.filter(person_id=LEAD, kind="notice", dedupe=f"burnt:{invitation.id}").exists()


# ---- buttons of a chat that moved to another customer ----

async def test_the_new_customer_cannot_change_the_old_customers_priority(rdesk):
    await bound_chat(rdesk)
    beta = await code_for(rdesk, "BETA")
    await rdesk.room.message(msg(rdesk, "ACME's payroll export fails"))  # Anna reports ACME-1
    await customers.unbind("express", CHAT)
    said = await rdesk.room.message(msg(rdesk, beta))
    assert said[0].text.startswith("This chat is now connected"), said
    incident = await Incident.get(key="ACME-1")
    said = await rdesk.room.press(press(rdesk, action(PRIORITY, incident.id, "P1"), sender=ANNA))  # its reporter
    assert [s.text for s in said] == [t("en", "err.button_stale")]
    assert (await Incident.get(id=incident.id)).priority == incident.priority


async def test_a_telegram_groups_old_rating_button_rates_nothing_after_it_moved(rdesk):
    title = {"id": GROUP, "type": "supergroup", "title": "Shared group"}
    await rdesk.say(GROUP, lead, "/bind ACME", chat=title)
    await rdesk.say(GROUP, customer, "Our portal is down", chat=title)
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    await rdesk.say(ENGINEER, engineer, "/resolve ACME-1 fixed")
    await rdesk.say(GROUP, lead, "/unbind", chat=title)
    await rdesk.say(GROUP, lead, "/bind BETA", chat=title)
    incident = await Incident.get(key="ACME-1")
    message = rdesk.stub.make_message(GROUP, lead, "rate", chat=title)
    mark = rdesk.stub.mark()
    await rdesk.press(message, customer, RateButton(incident=incident.id, stars=1).pack())
    assert (await Incident.get(id=incident.id)).rating is None
    answers = [c.params.get("text") for c in rdesk.stub.find("answerCallbackQuery", mark)]
    assert answers == [t("en", "err.button_stale")], answers


async def test_an_answer_holding_a_live_code_is_not_sent_to_the_customer(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Acme")
    await desk.say(GROUP, customer, "The server is down")
    token = await invitations.create("staff", LEAD, now, role="engineer")
    mark = desk.stub.mark()
    await desk.say(ENGINEER, engineer, f"/reply ACME-1 restarting; join us: https://t.me/desk_bot?start={token}")
    assert desk.last_reply(ENGINEER) == t("en", "burn.answer_refused", key="ACME-1")
    assert desk.replies(GROUP, mark) == []
    assert (await Incident.get(key="ACME-1")).responded_at is None
    assert (await Invitation.get(kind="staff")).used_at is None  # never shown: still the lead's to give


async def test_a_resolve_summary_holding_a_live_code_is_refused_and_the_incident_stays_open(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Acme")
    await desk.say(GROUP, customer, "We need access for our new admin")
    token = await invitations.create("staff", LEAD, now, role="engineer")
    mark = desk.stub.mark()
    await desk.say(ENGINEER, engineer, f"/resolve ACME-1 done, invite: https://t.me/desk_bot?start={token}")
    assert desk.last_reply(ENGINEER) == t("en", "leak.resolve_refused", key="ACME-1")
    assert desk.replies(GROUP, mark) == []
    incident = await Incident.get(key="ACME-1")
    assert (incident.status, incident.summary, incident.responded_at) == ("new", "", None)
    assert (await Invitation.get(kind="staff")).used_at is None  # never shown: still the lead's to give
    await desk.say(ENGINEER, engineer, "/resolve ACME-1 done")  # without the code it resolves as ever
    assert (await Incident.get(key="ACME-1")).status == "resolved"


async def test_an_announcement_holding_a_live_code_is_refused_and_goes_to_no_chat(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    desk.stub.chat(GROUP, "Acme")
    token = await invitations.create("staff", LEAD, now, role="engineer")
    await desk.say(LEAD, lead, f"/announce ACME New portal access: {token}")
    assert desk.last_reply(LEAD) == t("en", "leak.announce_refused")
    assert await Outbox.filter(kind="announce").count() == 0
    assert (await Invitation.get(kind="staff")).used_at is None
