"""Hostile and odd input in a customer chat, as real Telegram clients send it."""

import pytest

from domain import customers
from domain.models import IncidentMessage
from tests import fixtures
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer

acme = fixtures.acme  # its fixture


@pytest.mark.parametrize(("extra", "needle"), [
    ({"contact": {"phone_number": "+79001234567", "first_name": "Ivan", "last_name": "Admin"}}, "+79001234567"),
    ({"location": {"latitude": 55.751244, "longitude": 37.618423}}, "55.75"),
    ({"venue": {"location": {"latitude": 55.75, "longitude": 37.61}, "title": "DC-2 server room",
                "address": "Moscow, Lenina 1"}}, "DC-2 server room"),
])
async def test_contact_location_venue_are_not_lost(acme, extra, needle):
    await acme.say(GROUP, customer, None, **extra)
    stored = await IncidentMessage.filter(conversation__ref=str(GROUP), source="customer").first()
    assert stored is not None
    mark = acme.stub.mark()
    await acme.say(ENGINEER, engineer, "/incident ACME-1")
    card = "\n".join(acme.replies(ENGINEER, mark))
    assert needle in card or needle in (stored.text or "") + str(stored.attachments)


SERVICE_MESSAGES = {
    "colleague added": {"new_chat_members": [{"id": 3005, "is_bot": False, "first_name": "Newcomer"}]},
    "colleague left": {"left_chat_member": {"id": 3005, "is_bot": False, "first_name": "Leaver"}},
    "chat renamed": {"new_chat_title": "Acme ↔ Vendor support"},
    "message pinned": {"pinned_message": {"message_id": 1, "date": 0, "chat": {"id": GROUP, "type": "supergroup"}}},
    "topic created": {"forum_topic_created": {"name": "VPN", "icon_color": 7322096}, "message_thread_id": 5,
                      "is_topic_message": True},
    "auto-delete timer": {"message_auto_delete_timer_changed": {"message_auto_delete_time": 86400}},
    "video chat started": {"video_chat_started": {}},
    "chat photo removed": {"delete_chat_photo": True},
}


@pytest.mark.parametrize("kind", list(SERVICE_MESSAGES))
async def test_service_messages_open_no_incident_and_page_nobody(desk, kind):
    from domain.models import Incident, Outbox
    now = desk.clock.now()
    await customers.add_customer("PREM", "premium", "Premium Co", now)
    await customers.bind_by_code("PREM", "telegram", str(GROUP), "Premium Co", "supergroup", LEAD, now)
    desk.stub.chat(GROUP, "Premium Co")
    await desk.say(GROUP, customer, None, **SERVICE_MESSAGES[kind])
    assert await Incident.all().count() == 0
    assert await Outbox.filter(kind__in=("ack", "new", "ping")).count() == 0


async def test_general_topic_message_does_not_join_another_topics_incident(acme):
    """Held: a message in General opens its own incident."""
    from domain.models import Incident
    acme.stub.chat(GROUP, "Acme", forum=True)
    await acme.say(GROUP, customer, "VPN is down", message_thread_id=11, is_topic_message=True)
    mark = acme.stub.mark()
    await acme.say(GROUP, customer, "Also the mail server rejects all logins")  # General: no thread id
    assert await Incident.all().count() == 2
    assert any("ACME-2" in text for text in acme.replies(GROUP, mark))
