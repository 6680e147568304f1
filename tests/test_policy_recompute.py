"""After a policy change, open incidents take deadlines (and their next ping) from the policy in force; the
recompute reads a batch of columns at a time and leaves closed incidents and unchanged deadlines alone."""

from datetime import UTC, datetime

from domain import alerts, incidents
from domain.alerts import due_for_stage
from domain.models import Conversation, Customer, Incident
from domain.policy import load_policy
from domain.sla import Sla

OPENED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


async def make(n: int, customer: Customer, chat: Conversation, sla: Sla, status: str = "new",
               priority: str = "P3") -> Incident:
    deadline = sla.deadline("premium", priority, OPENED)
    return await Incident.create(key=f"RC-{n}", number=n, customer=customer, plan="premium", conversation=chat,
                                 title="problem", priority=priority, status=status, opened_at=OPENED,
                                 deadline=deadline, last_activity_at=OPENED,
                                 next_due_at=due_for_stage(0, "premium", deadline, OPENED, sla))


async def test_open_incidents_follow_a_changed_policy_batch_by_batch(db, tmp_path):
    old = Sla(load_policy(None))
    customer = await Customer.create(code="RC", name="Recompute", plan="premium", created_at=OPENED)
    chat = await Conversation.create(channel="telegram", ref="-100", customer=customer, kind="supergroup",
                                     bound_at=OPENED)
    opened = [await make(n, customer, chat, old) for n in (1, 2, 3)]
    urgent = await make(4, customer, chat, old, priority="P1")
    closed = await make(5, customer, chat, old, status="closed")
    path = tmp_path / "policy.toml"
    path.write_text('[plans.premium]\nreaction = { P3 = "2h" }\nremind_before = "10m"\n')
    new = Sla(load_policy(str(path)))
    assert new.deadline("premium", "P3", OPENED) != old.deadline("premium", "P3", OPENED)

    assert await incidents.recompute_deadlines(new, batch=2) == 3  # P3's target changed, P1's did not

    for incident in opened:
        await incident.refresh_from_db()
        assert incident.deadline == new.deadline("premium", "P3", OPENED)
        assert incident.next_due_at == due_for_stage(0, "premium", incident.deadline, OPENED, new)
    for untouched in (urgent, closed):
        before = untouched.deadline
        await untouched.refresh_from_db()
        assert untouched.deadline == before
    assert await incidents.recompute_deadlines(new) == 0  # nothing left to change


async def test_an_incident_whose_priority_moved_meanwhile_keeps_its_deadline(db, tmp_path, monkeypatch):
    """Another instance may be handling updates during the recompute: a priority set between the batch's read
    and the write got its deadline from the same policy there, and the recompute must not put back one
    computed for the old priority."""
    old = Sla(load_policy(None))
    customer = await Customer.create(code="RC", name="Recompute", plan="premium", created_at=OPENED)
    chat = await Conversation.create(channel="telegram", ref="-100", customer=customer, kind="supergroup",
                                     bound_at=OPENED)
    first, second = await make(1, customer, chat, old), await make(2, customer, chat, old)
    path = tmp_path / "policy.toml"
    path.write_text('[plans.premium]\nreaction = { P3 = "2h" }\n')
    new = Sla(load_policy(str(path)))
    set_there = new.deadline("premium", "P1", OPENED)
    real = alerts.reschedule

    async def other_instance_moves_the_second(incident_id, sla):  # after the batch was read, before its 2nd write
        if incident_id == first.id:
            await Incident.filter(id=second.id).update(priority="P1", deadline=set_there)
        await real(incident_id, sla)

    monkeypatch.setattr(alerts, "reschedule", other_instance_moves_the_second)
    assert await incidents.recompute_deadlines(new) == 1
    await first.refresh_from_db()
    await second.refresh_from_db()
    assert first.deadline == new.deadline("premium", "P3", OPENED)
    assert second.priority == "P1" and second.deadline == set_there
