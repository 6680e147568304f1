"""Hostile tests, fifth round: a Telegram group unbound from ACME and bound to BETA (it was BETA's chat all along)
still holds ACME's incidents, and the staff commands meant for "this chat's incidents" reach them (the harness of
tests/test_unbind.py)."""

import pytest

from domain.models import Incident
from tests.people import GROUP, LEAD, customer, engineer, lead
from tests.test_unbind import acme, answers  # noqa: F401  (the fixture)


async def moved(desk, then: str = "bound to BETA") -> None:
    await desk.say(LEAD, lead, f"/unbind telegram {GROUP}")
    if then == "bound to BETA":
        await desk.say(LEAD, lead, "/invite BETA")
        await desk.say(GROUP, lead, "/bind BETA")


@pytest.mark.parametrize("then", ["bound to BETA", "unbound"])
@pytest.mark.parametrize("command", ["/incident ACME-1", "/incidents"])
async def test_staff_commands_in_a_moved_group_show_nothing_of_the_old_customer(acme, command, then):  # noqa: F811
    await moved(acme, then)
    mark = acme.stub.mark()
    await acme.say(GROUP, engineer, command)
    shown = answers(acme, GROUP, mark)
    assert shown and not any("VPN is down" in text or "Acme Corp" in text for text in shown), shown


async def test_take_alone_in_a_moved_group_does_not_take_the_old_customers_incident(acme):  # noqa: F811
    await moved(acme)
    mark = acme.stub.mark()
    await acme.say(GROUP, engineer, "/take")
    assert (await Incident.get(key="ACME-1")).assignee_id is None
    assert not any("ACME-1" in text for text in answers(acme, GROUP, mark)), answers(acme, GROUP, mark)


async def test_a_staff_reply_in_a_moved_group_does_not_answer_the_old_customers_incident(acme):  # noqa: F811
    """Holds in Telegram (the chat-room layer does not: tests/test_attack_rooms5_moved.py)."""
    from domain.models import IncidentMessage
    await moved(acme)
    first = await IncidentMessage.get(text="The VPN is down")
    replied = acme.stub.make_message(GROUP, customer, first.text, message_id=int(first.ref))  # aiogram reads this
    await acme.say(GROUP, engineer, "Fixed: restarted the gateway", reply_to_message=replied)
    assert (await Incident.get(key="ACME-1")).responded_at is None
