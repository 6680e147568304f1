"""Attack on the group commit (`handlers.batch_intake`): a customer's plain message in a bound group is looked
at for live codes on the usual way (`DeskMiddleware._look_at`: the code is burnt, masked in what is stored,
the chat and the code's maker told). A burst taken by the batch must do the same: the batch stores "plain"
messages without ever passing through that middleware."""

import pytest

from domain import invitations
from domain.models import Incident, IncidentMessage, Invitation, Outbox, Staff
from tests.people import GROUP, LEAD, OTHER_GROUP, STRANGER, customer, customer_2, stranger
from tests.test_batch_intake import acme, either_way, take, update  # noqa: F401 — the fixture and the helpers

WAYS = ["one_by_one", "batch"]


@pytest.mark.parametrize("way", WAYS)
async def test_a_staff_invitation_pasted_by_a_customer_in_a_burst_is_burnt(acme, way):  # noqa: F811
    # A user sees: a customer pastes the staff invitation a lead sent them by mistake into their group during a
    # burst; the code stays live (anyone in that group opens it and is staff, with the desk page and every
    # customer's incidents), its text is stored unmasked as the incident's title, and the lead is never told.
    now = acme.clock.now()
    token = await invitations.create("staff", LEAD, now, role="engineer")
    updates = [update(acme, 901, GROUP, customer, f"We got this link, what is it? https://t.me/desk_bot?start={token}"
                                                " Also the export is broken since the update."),
               update(acme, 902, OTHER_GROUP, customer_2, "Down!")]
    await either_way(acme, way, updates)
    await acme.say(STRANGER, stranger, f"/start {token}")  # someone who read it in the group opens it
    assert not await Staff.exists(user_id=STRANGER, active=True), acme.replies(STRANGER)[-1][:60]
    assert (await Invitation.get(kind="staff")).burnt_at is not None  # used up: nobody can redeem it now
    assert not any(token in text for text in await IncidentMessage.all().values_list("text", flat=True))
    assert not any(token in title for title in await Incident.all().values_list("title", flat=True))
    assert await Outbox.filter(person_id=LEAD, dedupe__startswith="burnt:").count() == 1  # the lead is told


@pytest.mark.parametrize("way", WAYS)
async def test_another_customers_binding_code_shown_in_a_burst_is_burnt(acme, way):  # noqa: F811
    # A user sees: ACME's member pastes the code meant to bind BETA's group (`/invite BETA`, sent to the wrong
    # person); it stays live in a burst, so anyone who read it in ACME's group can bind a chat to BETA and read
    # BETA's notices, and the lead who made it is never told.
    from domain import customers
    now = acme.clock.now()
    beta = await customers.add_customer("BETA", "24x7", "Beta", now)
    token = await invitations.create("chat", LEAD, now, customer=beta)
    await either_way(acme, way, [update(acme, 901, GROUP, customer, f"Is this ours? {token} The mail server is down too.")])
    assert (await Invitation.get(kind="chat")).burnt_at is not None
    assert not any(token in text for text in await IncidentMessage.all().values_list("text", flat=True))
