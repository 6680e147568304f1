"""/reply KEY TEXT and a reply to the bot's ping or card: a staff member answers the customer from their
private chat, on the incident's channel (a message in its Telegram group, a mail in its thread), and the
answer counts as the response."""

from datetime import timedelta

import pytest

from bot.settings import load_settings
from domain import customers, people
from domain.intake import Windows
from domain.mail_intake import IncomingMail, take_mail
from domain.mail_rules import MailFacts
from domain.models import Incident, IncidentEvent, IncidentMessage, Outbox
from domain.sla import Sla
from handlers.pings import make_staff_notices
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.mail_servers import SmtpSink, wait_for
from tests.people import CUSTOMER, ENGINEER, GROUP, LEAD, STRANGER, customer, engineer, lead, stranger

DESK = "support@vendor.example"


@pytest.fixture
def smtp():
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def desk(stub, db, smtp):
    """The real Dispatcher with the e-mail channel configured (an SMTP sink takes the mail)."""
    clock = FrozenClock()
    settings = load_settings(make_env(stub.url, db, MAIL_IMAP_URL="imap://desk:unused@127.0.0.1:1/INBOX",
                                      MAIL_SMTP_URL=smtp.url, MAIL_FROM=f"Vendor Support <{DESK}>"))
    await people.ensure_leads(settings.lead_ids, clock.now())
    d = Desk(stub, settings, clock)
    d.smtp = smtp
    now = clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await customers.bind_email(await customers.get_customer("ACME"), "acme.ru", "domain", None, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    await people.seen(ENGINEER, "eng_boris", "Boris", now)
    stub.chat(GROUP, "Acme")
    yield d
    if d.bot.session._session is not None:
        await d.bot.session._session.close()


async def mail_incident(desk, subject="Сервер недоступен") -> tuple[Incident, str]:
    """A customer's mail opens an incident (the desk's intake, as the IMAP loop calls it)."""
    message_id = "<first@acme.ru>"
    mail = IncomingMail(sender="ivan@acme.ru", sender_name="Иван", message_id=message_id, subject=subject, key=None,
                        thread_ids=(), text="Никто не может войти", attachments=[], sent_at=desk.clock.now(),
                        facts=MailFacts("ivan@acme.ru"))

    async def on_created(incident, ref, now, acknowledge):
        return None

    result = await take_mail(mail, DESK, Sla(desk.settings.policy),
                             Windows(thread=timedelta(hours=4), reopen=timedelta(hours=72)), desk.clock.now(),
                             on_created=on_created)
    return result.incident, message_id


def bot_message(sent: dict) -> dict:
    """A message the bot sent to the engineer, as Telegram shows it inside a reply to it."""
    return {"message_id": sent["message_id"], "date": 0, "text": sent["text"],
            "chat": {"id": ENGINEER, "type": "private", "first_name": "B"},
            "from": {"id": 42, "is_bot": True, "first_name": "DutyDesk"}}


async def state(key: str) -> Incident:
    return await Incident.get(key=key)


async def test_reply_to_a_telegram_incident_goes_to_its_group_and_is_the_response(desk):
    await desk.say(GROUP, customer, "Сервер упал")
    desk.clock.advance(timedelta(minutes=4))
    mark = desk.stub.mark()
    await desk.say(ENGINEER, engineer, "/reply ACME-1 Перезапускаем службу, через 5 минут заработает")
    said = [c.params for c in desk.stub.find("sendMessage", mark) if int(c.params["chat_id"]) == GROUP]
    assert [p["text"] for p in said] == ["User2002 (@eng_boris):\nПерезапускаем службу, через 5 минут заработает"]
    assert "ACME-1" in desk.last_reply(ENGINEER) and "response" in desk.last_reply(ENGINEER)
    incident = await state("ACME-1")
    assert incident.responded_at - incident.opened_at == timedelta(minutes=4)
    assert (incident.responded_by, incident.status, incident.assignee_id) == (ENGINEER, "in_progress", ENGINEER)
    staff = await IncidentMessage.get(incident=incident, source="staff")
    assert staff.author_id == ENGINEER and staff.text.startswith("Перезапускаем службу")
    assert await IncidentEvent.filter(incident=incident, kind="responded").count() == 1


async def test_reply_to_a_forum_topic_incident_goes_to_its_topic(desk):
    await desk.say(GROUP, customer, "Сервер упал", message_thread_id=77, is_topic_message=True)
    assert (await state("ACME-1")).topic == "77"
    mark = desk.stub.mark()
    await desk.say(ENGINEER, engineer, "/reply ACME-1 Смотрим")
    said = [c.params for c in desk.stub.find("sendMessage", mark) if int(c.params["chat_id"]) == GROUP]
    assert len(said) == 1 and int(said[0]["message_thread_id"]) == 77


async def test_reply_to_a_mail_incident_is_a_mail_in_its_thread(desk):
    incident, first = await mail_incident(desk)
    desk.clock.advance(timedelta(minutes=9))
    await desk.say(ENGINEER, engineer, "/reply ACME-1 Перезапустите службу, пожалуйста.")
    await wait_for(lambda: desk.smtp.mails)
    sent = desk.smtp.mails[-1]
    assert sent["To"] == "ivan@acme.ru" and sent["Subject"] == "[ACME-1] Re: Сервер недоступен"
    assert sent["In-Reply-To"] == first and sent["References"].split() == [first]
    assert sent["Auto-Submitted"] is None  # a person's answer, not a machine's notice
    assert sent.get_content().startswith("Перезапустите службу, пожалуйста.")
    incident = await state("ACME-1")
    assert incident.responded_at - incident.opened_at == timedelta(minutes=9) and incident.responded_by == ENGINEER
    row = await Outbox.get(kind="reply")
    assert (row.channel, row.person_id, row.status) == ("email", incident.reporter_id, "sent")
    # The desk's own mail is kept as a message of the incident, so the customer's answer to it threads in.
    assert await IncidentMessage.filter(incident=incident, source="bot", ref=sent["Message-ID"]).exists()


async def test_the_same_update_twice_answers_once(desk):
    await desk.say(GROUP, customer, "Сервер упал")
    message = desk.stub.make_message(ENGINEER, engineer, "/reply ACME-1 Смотрим")
    mark = desk.stub.mark()
    await desk.feed({"message": message})
    await desk.feed({"message": message})
    assert len([c for c in desk.stub.find("sendMessage", mark) if int(c.params["chat_id"]) == GROUP]) == 1
    assert await IncidentMessage.filter(source="staff").count() == 1


@pytest.mark.parametrize(("text", "answer"), [
    ("/reply ACME-1", "Nothing to send to the customer of ACME-1"),
    ("/reply ACME-1    ", "Nothing to send to the customer of ACME-1"),
    ("/reply ACME-9 hello", "ACME-9"),
    ("/reply hello there", "Usage: /reply"),
    ("/reply", "Usage: /reply"),
])
async def test_bad_input_is_answered_and_changes_nothing(desk, text, answer):
    await desk.say(GROUP, customer, "Сервер упал")
    mark = desk.stub.mark()
    await desk.say(ENGINEER, engineer, text)
    assert answer in desk.last_reply(ENGINEER)
    assert [c for c in desk.stub.find("sendMessage", mark) if int(c.params["chat_id"]) == GROUP] == []
    incident = await state("ACME-1")
    assert incident.responded_at is None and incident.status == "new"
    assert await IncidentMessage.filter(source="staff").count() == 0
    assert await Outbox.filter(kind="reply").count() == 0


async def test_a_closed_incident_is_not_answered(desk):
    await desk.say(GROUP, customer, "Сервер упал")
    await desk.say(ENGINEER, engineer, "/resolve ACME-1 done")
    await Incident.filter(key="ACME-1").update(status="closed")
    mark = desk.stub.mark()
    await desk.say(ENGINEER, engineer, "/reply ACME-1 ещё одно")
    assert "ACME-1" in desk.last_reply(ENGINEER) and "closed" in desk.last_reply(ENGINEER)
    assert [c for c in desk.stub.find("sendMessage", mark) if int(c.params["chat_id"]) == GROUP] == []
    assert await Outbox.filter(kind="reply").count() == 0


async def test_customers_strangers_and_groups_may_not_reply(desk):
    await desk.say(GROUP, customer, "Сервер упал")
    for chat, who in ((CUSTOMER, customer), (STRANGER, stranger), (GROUP, customer), (GROUP, engineer)):
        await desk.say(chat, who, "/reply ACME-1 hacked")
    assert await Outbox.filter(kind="reply").count() == 0
    assert await IncidentMessage.filter(source="staff").count() == 0
    assert (await state("ACME-1")).responded_at is None
    assert "private chat" in desk.last_reply(GROUP)


async def test_a_reply_to_the_ping_answers_the_customer(desk):
    await desk.say(ENGINEER, engineer, "/start")
    await desk.say(LEAD, lead, "/rotation day daily @eng_boris")
    await desk.say(LEAD, lead, "/rotation night daily @eng_boris")
    incident, first = await mail_incident(desk)
    # The ping is owed the way a new mail incident owes it.
    await make_staff_notices(desk.settings, Sla(desk.settings.policy))(incident, desk.clock.now())
    await desk.flush()
    ping = bot_message(next(m for m in desk.stub.delivered
                            if int(m["chat_id"]) == ENGINEER and m["text"].startswith("🆕 ACME-1")))
    # The ping says the incident came by mail and how to answer it; a Telegram incident's does not.
    assert "✉ Came by mail: answer with /reply ACME-1 TEXT" in ping["text"].splitlines()[1]
    desk.clock.advance(timedelta(minutes=3))
    await desk.say(ENGINEER, engineer, "Уже смотрю, ответ в течение часа.", reply_to_message=ping)
    await wait_for(lambda: desk.smtp.mails)
    assert desk.smtp.mails[-1]["In-Reply-To"] == first
    assert desk.smtp.mails[-1].get_content().startswith("Уже смотрю, ответ в течение часа.")
    assert (await state("ACME-1")).responded_by == ENGINEER


async def test_a_reply_to_the_card_answers_the_customer_and_other_replies_do_not(desk):
    await desk.say(GROUP, customer, "Сервер упал")
    await desk.say(ENGINEER, engineer, "/incident ACME-1")
    card = bot_message(next(m for m in reversed(desk.stub.delivered) if int(m["chat_id"]) == ENGINEER))
    assert card["text"].startswith("ACME-1")
    mine = await desk.say(ENGINEER, engineer, "a note to self")
    await desk.say(ENGINEER, engineer, "this answers nothing", reply_to_message=mine)
    assert (await state("ACME-1")).responded_at is None
    mark = desk.stub.mark()
    await desk.say(ENGINEER, engineer, "Смотрим", reply_to_message=card)
    said = [c.params["text"] for c in desk.stub.find("sendMessage", mark) if int(c.params["chat_id"]) == GROUP]
    assert said == ["User2002 (@eng_boris):\nСмотрим"]
    assert (await state("ACME-1")).responded_by == ENGINEER


async def test_the_card_says_which_came_by_mail(desk):
    await mail_incident(desk)
    await desk.say(GROUP, customer, "Сервер упал")
    await desk.say(ENGINEER, engineer, "/incident ACME-1")
    assert "✉ Came by mail: answer with /reply ACME-1 TEXT" in desk.last_reply(ENGINEER)
    await desk.say(ENGINEER, engineer, "/incident ACME-2")
    assert "by mail" not in desk.last_reply(ENGINEER) and desk.last_reply(ENGINEER).startswith("ACME-2")
