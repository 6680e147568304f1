"""Telegram refusals the outbox reads too broadly or not at all."""

import pytest

from domain import customers, people
from domain.models import Conversation, Incident
from tests.channels import tg
from tests.owed import owe_text
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer


@pytest.fixture
async def acme(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Acme")
    return desk


def bad_request(description):
    return (400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"})


async def test_no_photo_rights_does_not_make_the_chat_unreachable(acme):
    acme.stub.faults["sendPhoto"] = [bad_request("not enough rights to send photos to the chat")]
    await owe_text(GROUP, "Monthly report", acme.clock.now(), kind="report", photo=b"\x89PNG fake")
    await acme.flush()
    assert (await Conversation.get(**tg(GROUP))).unreachable_since is None
    mark = acme.stub.mark()
    await acme.say(GROUP, customer, "Portal is down")
    assert any("ACME-1" in text for text in acme.replies(GROUP, mark)), "the acknowledgement never reached the chat"


async def test_notice_to_a_closed_topic_is_not_lost(acme):
    acme.stub.chat(GROUP, "Acme", forum=True)
    await acme.say(GROUP, customer, "VPN is down", message_thread_id=11, is_topic_message=True)
    assert (await Incident.get(key="ACME-1")).topic == "11"
    mark = acme.stub.mark()
    command = acme.stub.make_message(ENGINEER, engineer, "/resolve ACME-1 Restarted the VPN gateway")
    await acme.dp.feed_raw_update(acme.bot, {"update_id": 9100, "message": command})
    acme.stub.faults["sendMessage"] = [bad_request("TOPIC_CLOSED")]  # the customer closed the topic meanwhile
    await acme.flush()
    delivered = [c.params for c in acme.stub.find("sendMessage", mark) if "Restarted the VPN" in c.params.get("text", "")
                 and int(c.params["chat_id"]) != ENGINEER]
    assert delivered, "the resolved notice was sent nowhere"
