"""The outbox: each notification arrives exactly once through 429, 500, dropped connections, Forbidden
and restarts; pings jump the queue; reminders that lost their point are dropped."""

from datetime import timedelta

import pytest

from domain import customers, outbox, people
from domain.models import Incident, Outbox, Person
from scheduler.dispatcher import Dispatcher, Pacer
from tests.people import ENGINEER, LEAD, OTHER_GROUP, STRANGER
from tests.stub_api import DROP_CONNECTION, SERVER_ERROR, too_many_requests


def quick_pacer(desk) -> Pacer:
    """No spacing, and pauses measured on the test's clock."""
    return Pacer(per_second=float("inf"), private_gap=0, group_gap=0, monotonic=lambda: desk.clock.now().timestamp())


@pytest.fixture
def dispatcher(desk):
    return Dispatcher(desk.bot, desk.clock, desk.settings, quick_pacer(desk))


def delivered(desk, chat_id, text):
    return [m for m in desk.stub.delivered if int(m["chat_id"]) == chat_id and m["text"].endswith(text)]


async def drain(dispatcher, desk, rounds=8, step=timedelta(seconds=2)):
    for _ in range(rounds):
        await dispatcher.drain_once()
        desk.clock.advance(step)


@pytest.mark.parametrize("fault", [too_many_requests(1), SERVER_ERROR, DROP_CONNECTION], ids=["429", "500", "drop"])
async def test_transient_faults_deliver_exactly_once(desk, dispatcher, fault):
    desk.stub.faults["sendMessage"] = [fault, fault]
    await outbox.enqueue(ENGINEER, "ping ACME-1", desk.clock.now(), kind="ping", rank=outbox.RANK_PING)
    await drain(dispatcher, desk)
    assert len(delivered(desk, ENGINEER, "ping ACME-1")) == 1
    row = await Outbox.get()
    assert (row.status, row.attempts) == ("sent", 3)


async def test_retry_after_is_waited_out(desk, dispatcher):
    desk.stub.faults["sendMessage"] = [too_many_requests(30)]
    await outbox.enqueue(ENGINEER, "ping", desk.clock.now(), kind="ping")
    await dispatcher.drain_once()
    desk.clock.advance(timedelta(seconds=29))
    await dispatcher.drain_once()
    assert delivered(desk, ENGINEER, "ping") == []
    desk.clock.advance(timedelta(seconds=1))
    await dispatcher.drain_once()
    assert len(delivered(desk, ENGINEER, "ping")) == 1


async def test_forbidden_dm_marks_the_person_and_falls_back(stub, db):
    from bot.settings import load_settings
    from tests.clock import FrozenClock
    from tests.conftest import Desk, make_env

    settings = load_settings(make_env(stub.url, db, STAFF_CHAT_ID=str(OTHER_GROUP)))
    desk = Desk(stub, settings, FrozenClock())
    dispatcher = Dispatcher(desk.bot, desk.clock, settings, quick_pacer(desk))
    stub.forbidden_chats.add(STRANGER)
    await outbox.enqueue(STRANGER, "ping ACME-7", desk.clock.now(), kind="ping", fallback=True)
    await drain(dispatcher, desk, rounds=3)
    assert (await Person.get(id=STRANGER)).can_dm is False
    assert len(delivered(desk, OTHER_GROUP, "ping ACME-7")) == 1
    assert len(delivered(desk, LEAD, "ping ACME-7")) == 1
    assert "Could not deliver" in delivered(desk, LEAD, "ping ACME-7")[0]["text"]
    assert (await Outbox.get(chat_id=STRANGER)).status == "failed"
    await desk.bot.session._session.close()


async def test_restart_between_writing_and_sending(desk, dispatcher):
    await outbox.enqueue(ENGINEER, "written before the crash", desk.clock.now(), kind="ping")
    # A process that claimed a row and died before marking it: the row is released after a while.
    await outbox.enqueue(LEAD, "claimed before the crash", desk.clock.now(), kind="ping")
    await Outbox.filter(chat_id=LEAD).update(status="sending", claimed_at=desk.clock.now())
    desk.clock.advance(outbox.STUCK_AFTER + timedelta(seconds=1))
    restarted = Dispatcher(desk.bot, desk.clock, desk.settings, dispatcher.pacer)
    await outbox.release_stuck(desk.clock.now())
    await drain(restarted, desk, rounds=3)
    await drain(dispatcher, desk, rounds=3)  # a second dispatcher finds nothing left to send
    assert len(delivered(desk, ENGINEER, "written before the crash")) == 1
    assert len(delivered(desk, LEAD, "claimed before the crash")) == 1


async def test_same_dedupe_key_is_owed_once(desk, dispatcher):
    await people.register_staff(ENGINEER, "engineer", LEAD, desk.clock.now())  # reminders go only to staff
    for _ in range(3):
        await outbox.enqueue(ENGINEER, "reminder", desk.clock.now(), kind="reminder", dedupe="reminder:1:0")
    await drain(dispatcher, desk, rounds=2)
    assert len(delivered(desk, ENGINEER, "reminder")) == 1


async def test_pings_jump_the_queue(desk, dispatcher):
    for n in range(5):
        await outbox.enqueue(-1000 - n, f"report {n}", desk.clock.now(), kind="report", rank=outbox.RANK_REPORT)
    await outbox.enqueue(ENGINEER, "ping!", desk.clock.now(), kind="ping", rank=outbox.RANK_PING)
    await dispatcher.drain_once(limit=1)
    assert desk.stub.delivered[0]["text"] == "ping!"


async def test_answered_reminder_is_dropped(desk, dispatcher):
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    customer = await customers.get_customer("ACME")
    incident = await Incident.create(key="ACME-1", number=1, customer=customer, plan="premium", chat_id=-5,
                                     priority="P1", opened_at=now, last_activity_at=now, responded_at=now)
    await outbox.enqueue(ENGINEER, "remind", now, kind="reminder", incident_id=incident.id, drop_if_answered=True)
    await dispatcher.drain_once()
    assert delivered(desk, ENGINEER, "remind") == []
    assert (await Outbox.get()).status == "dropped"


class PacerTime:
    """The pacer's monotonic clock, and its sleeps recorded as the moment each would wake: the spacing is
    checked exactly, whatever the machine's speed."""

    def __init__(self, monkeypatch) -> None:
        import scheduler.dispatcher

        self.now = 100.0
        self.woke: list[float] = []

        async def sleep(seconds: float) -> None:
            self.woke.append(self.now + seconds)

        monkeypatch.setattr(scheduler.dispatcher.asyncio, "sleep", sleep)

    def monotonic(self) -> float:
        return self.now


async def test_pacer_spaces_messages_to_one_chat(monkeypatch):
    time = PacerTime(monkeypatch)
    pacer = Pacer(per_second=1000, private_gap=0.2, group_gap=0.3, monotonic=time.monotonic)
    for _ in range(3):
        await pacer.until(pacer.reserve(ENGINEER))
    assert time.woke == pytest.approx([100.2, 100.4])  # the first left at once
    assert pacer.reserve(-100800) == pytest.approx(100.401)  # another chat only keeps the global rate
    assert pacer.reserve(-100800) == pytest.approx(100.701)  # a group's own gap
    assert ENGINEER in pacer.busy()
    time.now = 100.61
    assert ENGINEER not in pacer.busy()


async def test_slots_reserved_in_turn_keep_the_global_rate_when_sent_side_by_side(monkeypatch):
    import asyncio

    time = PacerTime(monkeypatch)
    pacer = Pacer(per_second=20, private_gap=1, group_gap=3, monotonic=time.monotonic)
    slots = [pacer.reserve(chat) for chat in (ENGINEER, -100800, ENGINEER + 1, -100801)]
    assert slots == pytest.approx([100.0, 100.05, 100.1, 100.15])  # 20 a second overall
    await asyncio.gather(*(pacer.until(slot) for slot in reversed(slots)))
    assert sorted(time.woke) == pytest.approx(slots[1:])  # each waits for its own slot, whatever order they ran in
    assert pacer.reserve(ENGINEER) >= slots[0] + 1  # and a chat's own gap still counts


async def test_a_429_holds_back_messages_whose_slots_were_already_reserved(monkeypatch):
    time = PacerTime(monkeypatch)
    pacer = Pacer(per_second=1000, private_gap=0, group_gap=0, monotonic=time.monotonic)
    slot = pacer.reserve(ENGINEER + 1)  # reserved in the round, before Telegram said "wait"
    pacer.pause(ENGINEER, 0.3)
    await pacer.until(slot)
    assert time.woke == pytest.approx([100.3])


async def test_a_flooded_chat_does_not_starve_the_others(desk):
    paced = Pacer(per_second=float("inf"), private_gap=0, group_gap=3600, monotonic=lambda: desk.clock.now().timestamp())
    dispatcher = Dispatcher(desk.bot, desk.clock, desk.settings, paced)
    for n in range(200):
        await outbox.enqueue(-100800, f"flood {n}", desk.clock.now(), kind="ack", rank=outbox.RANK_PING)
    await outbox.enqueue(ENGINEER, "the ping behind the flood", desk.clock.now(), kind="ping", rank=outbox.RANK_PING)
    for _ in range(3):
        await dispatcher.drain_once()
    assert len(delivered(desk, ENGINEER, "the ping behind the flood")) == 1
    assert len([m for m in desk.stub.delivered if m["text"].startswith("flood")]) == 1  # the group waits its turn


async def run_until_delivered(dispatcher, desk, chat_id, text, *, sole_instance=False, before=None):
    """Run the dispatcher as the program does until the message is delivered (or fail after 10 s)."""
    import asyncio

    stopping = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stopping, idle=0.001, sole_instance=sole_instance))
    try:
        if before is not None:
            await before()
        for _ in range(10_000):
            if delivered(desk, chat_id, text) or task.done():
                break
            await asyncio.sleep(0.001)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)
    return delivered(desk, chat_id, text)


async def test_the_running_dispatcher_resends_what_a_dead_process_left_sending(desk, dispatcher):
    """At start: a sole instance at once; several instances once the row is STUCK_AFTER old."""
    await outbox.enqueue(LEAD, "claimed before the crash", desk.clock.now(), kind="ping")
    await Outbox.filter(chat_id=LEAD).update(status="sending", claimed_at=desk.clock.now())
    assert len(await run_until_delivered(dispatcher, desk, LEAD, "claimed before the crash", sole_instance=True)) == 1
    await outbox.enqueue(ENGINEER, "claimed by a dead peer", desk.clock.now(), kind="ping")
    await Outbox.filter(chat_id=ENGINEER).update(status="sending", claimed_at=desk.clock.now())
    desk.clock.advance(outbox.STUCK_AFTER + timedelta(seconds=1))
    assert len(await run_until_delivered(dispatcher, desk, ENGINEER, "claimed by a dead peer")) == 1


async def test_the_running_dispatcher_looks_again_for_rows_left_sending_meanwhile(desk, dispatcher):
    """A peer that dies while this instance runs: its row is released by the periodic look, not only at start."""
    await outbox.enqueue(ENGINEER, "claimed by a peer that died later", desk.clock.now(), kind="ping")

    async def peer_claims_and_dies():
        await Outbox.filter(chat_id=ENGINEER).update(status="sending", claimed_at=desk.clock.now())
        desk.clock.advance(outbox.STUCK_AFTER + timedelta(seconds=1))

    await Outbox.filter(chat_id=ENGINEER).update(status="sending", claimed_at=desk.clock.now())
    sent = await run_until_delivered(dispatcher, desk, ENGINEER, "claimed by a peer that died later",
                                     before=peer_claims_and_dies)
    assert len(sent) == 1
