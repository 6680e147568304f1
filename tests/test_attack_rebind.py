"""A chat unbound and bound to another customer (a binding corrected, or a group handed on)."""

import pytest

from domain import customers, people
from domain.models import Incident
from tests.channels import tg
from tests.people import ENGINEER, GROUP, customer, lead


@pytest.fixture
async def rebound(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    await customers.add_customer("BETA", "warranty", "Beta", now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Shared group")
    await desk.say(GROUP, lead, "/bind ACME")
    await desk.say(GROUP, customer, "Our portal is down")  # ACME-1
    await desk.say(GROUP, lead, "/unbind")
    await desk.say(GROUP, lead, "/bind BETA")  # the group now belongs to BETA
    return desk


async def test_after_rebinding_messages_go_to_the_new_customer(rebound):
    await rebound.say(GROUP, customer, "Another problem")
    assert await Incident.filter(customer__code="BETA").count() == 1


async def test_after_rebinding_status_shows_no_other_customers_incidents(rebound):
    mark = rebound.stub.mark()
    await rebound.say(GROUP, customer, "/status")
    answer = "\n".join(rebound.replies(GROUP, mark))
    assert "ACME-1" not in answer and "portal is down" not in answer, answer


async def test_a_message_written_before_binding_is_not_left_behind(desk):
    await customers.add_customer("ACME", "premium", "Acme", desk.clock.now())
    desk.stub.chat(GROUP, "Acme")
    await desk.say(GROUP, customer, "Payments are down for everyone")
    assert "saved" in desk.last_reply(GROUP)
    mark = desk.stub.mark()
    await desk.say(GROUP, lead, "/bind ACME")
    bind_answer = "\n".join(desk.replies(GROUP, mark))
    opened = await Incident.filter(customer__code="ACME").count()
    assert opened == 1 or "Payments are down" in bind_answer or "unbound" in bind_answer.lower(), bind_answer


async def test_the_staff_chat_cannot_be_bound_to_a_customer(stub, db):
    from bot.settings import load_settings
    from domain.models import Conversation
    from tests.clock import FrozenClock
    from tests.conftest import Desk, make_env
    staff_chat = -100777
    settings = load_settings(make_env(stub.url, db, STAFF_CHAT_ID=str(staff_chat)))
    clock = FrozenClock()
    await people.ensure_leads(settings.lead_ids, clock.now())
    desk = Desk(stub, settings, clock)
    try:
        await customers.add_customer("ACME", "24x7", "Acme", clock.now())
        stub.chat(staff_chat, "Support team")
        await desk.say(staff_chat, lead, "/bind ACME")
        assert not await Conversation.filter(**tg(staff_chat), customer_id__isnull=False).exists()
    finally:
        await desk.bot.session.close()
