"""Hostile tests, fifth round: a chat room (eXpress) that moved to another customer after `/unbind`, and what
staff writing there still do to the old customer's incidents (the chat-room layer of tests/test_chatroom.py)."""


from domain import customers, people
from domain.models import Incident
from tests import test_chatroom
from tests.people import ENGINEER, LEAD
from tests.test_chatroom import CHAT, DIALOG, ENGINEER_HUID, bound_chat, code_for, link_code, msg

rdesk = test_chatroom.rdesk  # its fixture


async def moved_with_open_incident(rdesk):
    """ACME's chat with ACME-1 awaiting its first response, a linked engineer in it; then the lead finds it was
    Beta's chat all along: `/unbind`, and Beta binds it."""
    await bound_chat(rdesk)
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    linked = await rdesk.room.message(msg(rdesk, await link_code(rdesk), chat=DIALOG, sender=ENGINEER_HUID,
                                          name="Boris", private=True))  # linked in a private dialog (rooms4fix)
    assert linked[0].text.startswith("Done: this eXpress account is linked"), linked
    beta = await code_for(rdesk, "BETA")
    first = msg(rdesk, "The payroll export fails")
    await rdesk.room.message(first)
    await customers.unbind("express", CHAT)  # what `/unbind express REF` does (this harness names chats bare)
    said = await rdesk.room.message(msg(rdesk, beta))
    assert said[0].text.startswith("This chat is now connected"), said
    return first


async def test_a_staff_reply_in_a_moved_chat_does_not_answer_the_old_customers_incident(rdesk):
    first = await moved_with_open_incident(rdesk)
    said = await rdesk.room.message(msg(rdesk, "Fixed: restarted the export service", sender=ENGINEER_HUID,
                                        name="Boris", reply_to=first.ref))
    incident = await Incident.get(key="ACME-1")
    # The answer reached Beta's people, not ACME's: ACME-1 still awaits its response (and keeps paging), or the
    # engineer is told aloud that it answered nothing.
    assert incident.responded_at is None, (incident.responded_by, said)


async def test_a_chat_unbound_by_mistake_and_bound_back_gets_its_answers(rdesk):
    from locales import t
    from tests.people import engineer
    await bound_chat(rdesk)
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    again = await code_for(rdesk, "ACME")
    await rdesk.room.message(msg(rdesk, "The payroll export fails"))
    await customers.unbind("express", CHAT)  # the wrong chat, the lead thought; it was right after all
    said = await rdesk.room.message(msg(rdesk, again))
    assert said[0].text.startswith("This chat is now connected"), said
    await rdesk.say(ENGINEER, engineer, "/reply ACME-1 Restarted the export service")
    assert rdesk.last_reply(ENGINEER) != t("en", "unbind2.reply_chat_gone", key="ACME-1")
    assert (await Incident.get(key="ACME-1")).responded_at is not None
