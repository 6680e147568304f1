"""A chat moved to another customer (unbound, then bound to BETA) reaches nothing of the old customer's incidents,
on every path that means "this chat's incidents" (`domain.incidents.belongs`), while the new customer's own
incidents work there as ever; and `/lang` in a chat room (eXpress, MAX) as in a Telegram group."""

from domain import customers, people
from domain.models import Conversation, Incident, IncidentEvent, IncidentMessage, Person
from locales import t
from tests import test_chatroom
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer, lead
from tests.test_attack_rooms5_unbind import moved
from tests.test_chatroom import CHAT, DIALOG, ENGINEER_HUID, code_for, link_code, msg
from tests.test_express import ANNA
from tests.test_express import room as express_room  # noqa: F401 (fixture)
from tests.test_unbind import acme, answers  # noqa: F401 (fixture)

rdesk = test_chatroom.rdesk  # its fixture


async def old_message(desk) -> dict:
    """ACME's first message in the group, as Telegram gives it in a reply to it."""
    first = await IncidentMessage.get(text="The VPN is down")
    return desk.stub.make_message(GROUP, customer, first.text, message_id=int(first.ref))


async def untouched(key: str = "ACME-1") -> None:
    incident = await Incident.get(key=key)
    assert (incident.status, incident.assignee_id, incident.responded_at) == ("new", None, None)
    assert not await IncidentEvent.filter(incident_id=incident.id).exclude(kind="opened").exists()


# ---- Telegram ----------------------------------------------------------------------------------------

async def test_a_command_as_a_reply_to_an_old_message_is_refused_and_changes_nothing(acme):  # noqa: F811
    await moved(acme)
    first = await old_message(acme)
    for command in ("/take", "/resolve Restarted", "/priority P1"):
        mark = acme.stub.mark()
        await acme.say(GROUP, engineer, command, reply_to_message=first)
        assert answers(acme, GROUP, mark) == [t("en", "access.other_chat_incident", key="ACME-1")], command
    await untouched()


async def test_resolve_alone_and_my_in_a_moved_group_reach_nothing_of_the_old_customer(acme):  # noqa: F811
    await acme.say(LEAD, engineer, "/take ACME-1")  # the engineer holds ACME-1 before the chat moves
    await moved(acme)
    mark = acme.stub.mark()
    await acme.say(GROUP, engineer, "/my")
    await acme.say(GROUP, engineer, "/resolve Restarted the gateway")
    assert answers(acme, GROUP, mark) == [t("en", "list.none_mine"), t("en", "err.no_open_incident")]
    assert (await Incident.get(key="ACME-1")).status == "in_progress"


async def test_the_new_customers_incidents_work_in_the_moved_group(acme):  # noqa: F811
    await moved(acme)
    await acme.say(GROUP, customer, "Printing fails")
    assert await Incident.get(key="BETA-1")
    mark = acme.stub.mark()
    await acme.say(GROUP, engineer, "/incidents")
    listed = answers(acme, GROUP, mark)
    assert "BETA-1" in listed[0] and "ACME-1" not in listed[0], listed
    await acme.say(GROUP, engineer, "/take")
    assert (await Incident.get(key="BETA-1")).assignee_id == ENGINEER
    await untouched()


async def test_a_staff_reply_to_an_old_message_tells_the_engineer_in_their_language(acme):  # noqa: F811
    await acme.say(ENGINEER, engineer, "/lang ru")
    await moved(acme)
    first = await old_message(acme)
    mark = acme.stub.mark()
    await acme.say(GROUP, engineer, "Fixed: restarted the gateway", reply_to_message=first)
    assert answers(acme, GROUP, mark) == [t("ru", "moved5.staff_old_customer")]
    assert not await IncidentMessage.exists(text="Fixed: restarted the gateway")
    await untouched()


async def test_a_staff_message_in_the_groups_own_chat_is_told_nothing(acme):  # noqa: F811
    await acme.say(GROUP, customer, "The VPN is down again")  # ACME-1 still bound: a follow-up
    mark = acme.stub.mark()
    await acme.say(GROUP, engineer, "Looking into it")
    assert answers(acme, GROUP, mark) == []
    assert (await Incident.get(key="ACME-1")).responded_at is not None


# ---- the chat room (eXpress) -------------------------------------------------------------------------

async def linked(rdesk) -> None:
    """The engineer links their eXpress account, in their private dialog with the bot."""
    said = await rdesk.room.message(msg(rdesk, await link_code(rdesk), chat=DIALOG, sender=ENGINEER_HUID,
                                        name="Boris", private=True))
    assert said[0].text.startswith("Done: this eXpress account is linked"), said


async def moved_room(rdesk) -> IncidentMessage:
    await test_chatroom.bound_chat(rdesk)
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    await linked(rdesk)
    beta = await code_for(rdesk, "BETA")
    await rdesk.room.message(msg(rdesk, "The payroll export fails"))
    await customers.unbind("express", CHAT)
    await rdesk.room.message(msg(rdesk, beta))
    return await IncidentMessage.get(text="The payroll export fails")


async def test_a_linked_engineers_reply_to_an_old_message_is_told_aloud_and_answers_nothing(rdesk):
    first = await moved_room(rdesk)
    said = await rdesk.room.message(msg(rdesk, "Fixed: restarted the export", sender=ENGINEER_HUID, name="Boris",
                                        reply_to=first.ref))
    assert [s.text for s in said] == [t("en", "moved5.staff_old_customer")]
    assert not await IncidentMessage.exists(text="Fixed: restarted the export")
    await untouched()


async def test_a_linked_engineers_plain_message_answers_the_new_customers_incident(rdesk):
    await moved_room(rdesk)
    await rdesk.room.message(msg(rdesk, "Printing fails"))
    said = await rdesk.room.message(msg(rdesk, "Looking into it", sender=ENGINEER_HUID, name="Boris"))
    assert said == []
    assert (await Incident.get(key="BETA-1")).responded_at is not None
    await untouched()


# ---- /lang in a chat room ----------------------------------------------------------------------------

async def test_a_customer_sets_the_express_chats_language(express_room):  # noqa: F811
    chat = await express_room.bind()
    sent = len(express_room.botx.sent())
    await express_room.botx.command(chat.ref.split(":")[1], ANNA, "/lang ru")
    await express_room.settle()
    assert (await Conversation.get(id=chat.id)).lang == "ru"
    assert [m["body"] for m in express_room.botx.sent()[sent:]] == [t("ru", "lang.chat_set")]
    assert not await Incident.exists()


async def test_a_linked_engineers_lang_in_a_chat_room_is_their_own(rdesk):
    chat = await test_chatroom.bound_chat(rdesk)
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    await linked(rdesk)
    said = await rdesk.room.message(msg(rdesk, "/lang RU", sender=ENGINEER_HUID, name="Boris"))
    assert [s.text for s in said] == [t("ru", "lang.person_set")]
    assert (await Person.get(id=ENGINEER)).lang == "ru"
    assert (await Conversation.get(id=chat.id)).lang is None


async def test_a_bad_lang_in_a_chat_room_is_answered_and_changes_nothing(rdesk):
    chat = await test_chatroom.bound_chat(rdesk)
    for text in ("/lang fr", "/lang", "/lang ru en"):
        said = await rdesk.room.message(msg(rdesk, text))
        assert [s.text for s in said] == [t("en", "usage.lang")], text
    assert (await Conversation.get(id=chat.id)).lang is None
    assert not await Incident.exists()
    assert lead  # the lead made the codes above
