"""The outbox: each notification arrives exactly once through 429, 500, dropped connections, Forbidden
and restarts; pings jump the queue; reminders that lost their point are dropped."""

from datetime import timedelta

import pytest

from domain import customers, outbox, people
from domain.models import Incident, Outbox, Person, Staff
from handlers.telegram_channel import Pacer
from tests.channels import tg_conversation
from tests.owed import courier, owe_text, pacer_of
from tests.people import ENGINEER, LEAD, OTHER_GROUP, STRANGER
from tests.stub_api import DROP_CONNECTION, SERVER_ERROR, too_many_requests


def quick_pacer(desk) -> Pacer:
    """No spacing, and pauses measured on the test's clock."""
    return Pacer(per_second=float("inf"), private_gap=0, group_gap=0, monotonic=lambda: desk.clock.now().timestamp())


@pytest.fixture
def dispatcher(desk):
    return courier(desk, quick_pacer(desk))


def delivered(desk, chat_id, text):
    return [m for m in desk.stub.delivered if int(m["chat_id"]) == chat_id and m["text"].endswith(text)]


async def drain(dispatcher, desk, rounds=8, step=timedelta(seconds=2)):
    for _ in range(rounds):
        await dispatcher.drain_once()
        desk.clock.advance(step)


@pytest.mark.parametrize("fault", [too_many_requests(1), SERVER_ERROR, DROP_CONNECTION], ids=["429", "500", "drop"])
async def test_transient_faults_deliver_exactly_once(desk, dispatcher, fault):
    desk.stub.faults["sendMessage"] = [fault, fault]
    await owe_text(ENGINEER, "ping ACME-1", desk.clock.now(), kind="ping", rank=outbox.RANK_PING)
    await drain(dispatcher, desk)
    assert len(delivered(desk, ENGINEER, "ping ACME-1")) == 1
    row = await Outbox.get()
    assert (row.status, row.attempts) == ("sent", 3)


async def test_retry_after_is_waited_out(desk, dispatcher):
    desk.stub.faults["sendMessage"] = [too_many_requests(30)]
    await owe_text(ENGINEER, "ping", desk.clock.now(), kind="ping")
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
    dispatcher = courier(desk, quick_pacer(desk), settings)
    stub.forbidden_chats.add(STRANGER)
    await owe_text(STRANGER, "ping ACME-7", desk.clock.now(), kind="ping", fallback=True)
    await drain(dispatcher, desk, rounds=3)
    assert (await Person.get(id=STRANGER)).can_dm is False
    assert len(delivered(desk, OTHER_GROUP, "ping ACME-7")) == 1
    assert len(delivered(desk, LEAD, "ping ACME-7")) == 1
    assert "Could not deliver" in delivered(desk, LEAD, "ping ACME-7")[0]["text"]
    assert (await Outbox.get(person_id=STRANGER)).status == "failed"
    await desk.bot.session._session.close()


async def test_restart_between_writing_and_sending(desk, dispatcher):
    await owe_text(ENGINEER, "written before the crash", desk.clock.now(), kind="ping")
    # A process that claimed a row and died before marking it: the row is released after a while.
    await owe_text(LEAD, "claimed before the crash", desk.clock.now(), kind="ping")
    await Outbox.filter(person_id=LEAD).update(status="sending", claimed_at=desk.clock.now())
    desk.clock.advance(outbox.STUCK_AFTER + timedelta(seconds=1))
    restarted = courier(desk, pacer_of(dispatcher))
    await outbox.release_stuck(desk.clock.now())
    await drain(restarted, desk, rounds=3)
    await drain(dispatcher, desk, rounds=3)  # a second dispatcher finds nothing left to send
    assert len(delivered(desk, ENGINEER, "written before the crash")) == 1
    assert len(delivered(desk, LEAD, "claimed before the crash")) == 1


async def test_same_dedupe_key_is_owed_once(desk, dispatcher):
    await people.register_staff(ENGINEER, "engineer", LEAD, desk.clock.now())  # reminders go only to staff
    for _ in range(3):
        await owe_text(ENGINEER, "reminder", desk.clock.now(), kind="reminder", dedupe="reminder:1:0")
    await drain(dispatcher, desk, rounds=2)
    assert len(delivered(desk, ENGINEER, "reminder")) == 1


async def test_pings_jump_the_queue(desk, dispatcher):
    for n in range(5):
        await owe_text(-1000 - n, f"report {n}", desk.clock.now(), kind="report", rank=outbox.RANK_REPORT)
    await owe_text(ENGINEER, "ping!", desk.clock.now(), kind="ping", rank=outbox.RANK_PING)
    await dispatcher.drain_once(limit=1)
    assert desk.stub.delivered[0]["text"] == "ping!"


async def test_answered_reminder_is_dropped(desk, dispatcher):
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme", now)
    customer = await customers.get_customer("ACME")
    incident = await Incident.create(key="ACME-1", number=1, customer=customer, plan="premium",
                                     conversation=await tg_conversation(-5),
                                     priority="P1", opened_at=now, last_activity_at=now, responded_at=now)
    await owe_text(ENGINEER, "remind", now, kind="reminder", incident_id=incident.id, drop_if_answered=True)
    await dispatcher.drain_once()
    assert delivered(desk, ENGINEER, "remind") == []
    assert (await Outbox.get()).status == "dropped"


class PacerTime:
    """The pacer's monotonic clock, and its sleeps recorded as the moment each would wake: the spacing is
    checked exactly, whatever the machine's speed."""

    def __init__(self, monkeypatch) -> None:
        import handlers.pacer

        self.now = 100.0
        self.woke: list[float] = []

        async def sleep(seconds: float) -> None:
            self.woke.append(self.now + seconds)

        monkeypatch.setattr(handlers.pacer.asyncio, "sleep", sleep)

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
    dispatcher = courier(desk, paced)
    for n in range(200):
        await owe_text(-100800, f"flood {n}", desk.clock.now(), kind="ack", rank=outbox.RANK_PING)
    await owe_text(ENGINEER, "the ping behind the flood", desk.clock.now(), kind="ping", rank=outbox.RANK_PING)
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
    await owe_text(LEAD, "claimed before the crash", desk.clock.now(), kind="ping")
    await Outbox.filter(person_id=LEAD).update(status="sending", claimed_at=desk.clock.now())
    assert len(await run_until_delivered(dispatcher, desk, LEAD, "claimed before the crash", sole_instance=True)) == 1
    await owe_text(ENGINEER, "claimed by a dead peer", desk.clock.now(), kind="ping")
    await Outbox.filter(person_id=ENGINEER).update(status="sending", claimed_at=desk.clock.now())
    desk.clock.advance(outbox.STUCK_AFTER + timedelta(seconds=1))
    assert len(await run_until_delivered(dispatcher, desk, ENGINEER, "claimed by a dead peer")) == 1


async def test_the_running_dispatcher_looks_again_for_rows_left_sending_meanwhile(desk, dispatcher):
    """A peer that dies while this instance runs: its row is released by the periodic look, not only at start."""
    await owe_text(ENGINEER, "claimed by a peer that died later", desk.clock.now(), kind="ping")

    async def peer_claims_and_dies():
        await Outbox.filter(person_id=ENGINEER).update(status="sending", claimed_at=desk.clock.now())
        desk.clock.advance(outbox.STUCK_AFTER + timedelta(seconds=1))

    await Outbox.filter(person_id=ENGINEER).update(status="sending", claimed_at=desk.clock.now())
    sent = await run_until_delivered(dispatcher, desk, ENGINEER, "claimed by a peer that died later",
                                     before=peer_claims_and_dies)
    assert len(sent) == 1


# Outbox functions one by one: what each writes is what the dispatcher and the pings' edits rely on (the
# mutation run over domain/outbox.py showed these as unchecked).

async def incident_pair(now):
    """ACME-1 answered, ACME-2 not."""
    await customers.add_customer("ACME", "premium", "Acme", now)
    customer = await customers.get_customer("ACME")
    made = []
    for number, responded in ((1, now), (2, None)):
        made.append(await Incident.create(key=f"ACME-{number}", number=number, customer=customer, plan="premium",
                                          conversation=await tg_conversation(-5), priority="P1", opened_at=now,
                                          last_activity_at=now,
                                          responded_at=responded))
    return made


async def test_enqueue_writes_every_field_and_plain_defaults(desk):
    now = desk.clock.now()
    _, open_incident = await incident_pair(now)
    params = {"reply_to": 7, "topic": 42, "chart": True}
    await outbox.enqueue("new", outbox.chat(-100800), now, params=params, rank=outbox.RANK_PING,
                         incident_id=open_incident.id, drop_if_answered=True, fallback=True, dedupe="k:1")
    await outbox.enqueue("ack", outbox.person(ENGINEER), now)
    full, plain = await Outbox.all().order_by("id")
    assert (full.kind, full.rank, full.channel, full.person_id, full.chat_id, full.params, full.rest, full.incident_id,
            full.drop_if_answered, full.fallback, full.dedupe, full.due_at, full.created_at) == \
        ("new", outbox.RANK_PING, "telegram", None, -100800, params, None, open_incident.id, True, True, "k:1",
         now, now)
    assert (plain.rank, plain.channel, plain.person_id, plain.chat_id, plain.params, plain.incident_id,
            plain.drop_if_answered, plain.fallback, plain.dedupe) == \
        (outbox.RANK_NOTICE, "telegram", ENGINEER, None, {}, None, False, False, None)
    with pytest.raises(ValueError):
        outbox.Recipient()  # a recipient is a person or a chat, never neither
    with pytest.raises(ValueError):
        outbox.Recipient(person=ENGINEER, chat=-100800)


async def test_claim_takes_due_pending_rows_one_per_chat_up_to_the_limit(desk):
    now = desk.clock.now()
    for n in range(8):  # already sent, ahead in the order: they must not fill the candidates
        await owe_text(-200 - n, f"old {n}", now, kind="ack")
    await Outbox.all().update(status="sent")
    for chat_id, text in ((ENGINEER, "a1"), (ENGINEER, "a2"), (LEAD, "b"), (-100800, "c")):
        await owe_text(chat_id, text, now, kind="ack")
    await owe_text(-100801, "later", now + timedelta(seconds=1), kind="ack")  # not due yet

    first = await outbox.claim(now, 2, set())
    assert [row.params["text"] for row in first] == ["a1", "b"]  # a2 waits for a1: one per chat, in order; then the limit
    assert [(row.status, row.attempts) for row in first] == [("sending", 1)] * 2
    stored = await Outbox.get(id=first[0].id)
    assert (stored.status, stored.claimed_at, stored.attempts) == ("sending", now, 1)
    assert [row.params["text"] for row in await outbox.claim(now, 10, set())] == ["a2", "c"]
    assert await outbox.claim(now, 10, set()) == []
    assert [row.params["text"] for row in await outbox.claim(now + timedelta(seconds=1), 10, set())] == ["later"]


async def test_release_stuck_waits_for_rows_a_live_peer_may_be_sending(desk):
    now = desk.clock.now()
    await owe_text(ENGINEER, "stuck", now, kind="ack")
    await outbox.claim(now, 1, set())
    assert await outbox.release_stuck(now + outbox.STUCK_AFTER) == 0  # a peer may still be sending it
    assert (await Outbox.get()).status == "sending"
    assert await outbox.release_stuck(now + outbox.STUCK_AFTER + timedelta(seconds=1)) == 1
    assert (await Outbox.get()).status == "pending"
    await outbox.claim(now, 1, set())
    assert await outbox.release_stuck(now, sole_instance=True) == 1  # a sole instance: every such row is dead
    assert (await Outbox.get()).status == "pending"


async def test_a_sent_row_records_when_and_which_message(desk, dispatcher):
    await owe_text(ENGINEER, "hello", desk.clock.now(), kind="ack")
    await dispatcher.drain_once()
    row = await Outbox.get()
    assert (row.status, row.sent_at, outbox.sent_ref(row)) == ("sent", desk.clock.now(),
                                                              str(desk.stub.next_message_id[ENGINEER] - 1))


async def test_a_failing_row_backs_off_by_its_attempts(desk, dispatcher):
    desk.stub.faults["sendMessage"] = [SERVER_ERROR, SERVER_ERROR]
    await owe_text(ENGINEER, "ping", desk.clock.now(), kind="ping")
    start = desk.clock.now()
    await dispatcher.drain_once()
    row = await Outbox.get()
    assert (row.status, row.due_at) == ("pending", start + timedelta(seconds=1))
    assert row.error
    desk.clock.advance(timedelta(seconds=1))
    await dispatcher.drain_once()
    assert (await Outbox.get()).due_at == desk.clock.now() + timedelta(seconds=2)  # the second wait is longer


async def test_errors_are_kept_and_capped(desk):
    await owe_text(ENGINEER, "x", desk.clock.now(), kind="ack")
    await owe_text(LEAD, "y", desk.clock.now(), kind="ack")
    failed, dropped = await Outbox.all().order_by("id")
    await outbox.mark_failed(failed, "f" * 600)
    await outbox.mark_dropped(dropped, "d" * 600)
    assert [(row.status, row.error) for row in await Outbox.all().order_by("id")] == \
        [("failed", "f" * 500), ("dropped", "d" * 500)]


async def test_only_answered_reminders_and_staff_only_rows_to_former_staff_are_dropped(desk, dispatcher):
    now = desk.clock.now()
    answered, open_incident = await incident_pair(now)
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    await owe_text(ENGINEER, "open one", now, kind="reminder", incident_id=open_incident.id, drop_if_answered=True)
    await owe_text(ENGINEER, "no drop asked", now, kind="reminder", incident_id=answered.id)
    await owe_text(ENGINEER, "no incident", now, kind="reminder", drop_if_answered=True)
    await owe_text(ENGINEER, "answered", now, kind="reminder", incident_id=answered.id, drop_if_answered=True)
    await owe_text(STRANGER, "not staff", now, kind="reminder")
    await owe_text(STRANGER, "a notice anyone may read", now, kind="ack")
    await owe_text(-100800, "a group", now, kind="reminder")
    await drain(dispatcher, desk, rounds=5)
    rows = {row.params["text"]: (row.status, row.error) for row in await Outbox.all()}
    assert rows == {"open one": ("sent", ""), "no drop asked": ("sent", ""), "no incident": ("sent", ""),
                    "answered": ("dropped", "answered before it was sent"),
                    "not staff": ("dropped", "the recipient is no longer staff"),
                    "a notice anyone may read": ("sent", ""), "a group": ("sent", "")}


async def test_reroute_copies_the_row_once_per_target_with_its_note(desk):
    now = desk.clock.now()
    _, open_incident = await incident_pair(now)
    markup = {"inline_keyboard": [[{"text": "P1", "callback_data": "prio:1"}]]}
    await owe_text(STRANGER, "the notice", now, kind="escalation", rank=outbox.RANK_PING, markup=markup,
                   incident_id=open_incident.id, drop_if_answered=True, reply_to=5, thread_id=6)
    row = await Outbox.get()
    note = outbox.say("outbox.rerouted", name="Ann")
    targets = [outbox.person(STRANGER), outbox.chat(OTHER_GROUP), outbox.person(LEAD)]
    for _ in range(2):  # a second reroute of the same row owes nothing more
        await outbox.reroute(row, targets, note, now)
    copies = await Outbox.exclude(id=row.id).order_by("id")
    # The copy keeps what it says and its buttons, gets the note, and loses where it sat in the first chat.
    copied = {"text": "the notice", "markup": markup, "rerouted": note}
    assert [(c.person_id, c.chat_id, c.params, c.kind, c.rank, c.incident_id, c.drop_if_answered) for c in copies] == [
        (None, OTHER_GROUP, copied, "escalation", outbox.RANK_PING, open_incident.id, True),
        (LEAD, None, copied, "escalation", outbox.RANK_PING, open_incident.id, True)]
    await outbox.reroute(row, [outbox.chat(OTHER_GROUP)], note, now + timedelta(seconds=1), keep_buttons=False)
    assert await Outbox.filter(chat_id=OTHER_GROUP).count() == 1  # keyed by row and target
    await Outbox.exclude(id=row.id).delete()
    await outbox.reroute(row, [outbox.chat(OTHER_GROUP)], note, now, keep_buttons=False)
    assert (await Outbox.get(chat_id=OTHER_GROUP)).params["buttons"] is False


async def test_part_sent_keeps_only_what_is_still_owed(desk):
    await owe_text(ENGINEER, "part one part two", desk.clock.now(), kind="handover", reply_to=3, photo=b"png")
    row = await Outbox.get()
    await outbox.part_sent(row, "9", "part two")
    stored = await Outbox.get()
    for kept in (row, stored):
        assert (kept.rest, outbox.sent_ref(kept)) == ("part two", "9")


async def test_backlog_counts_rows_not_yet_sent_and_the_oldest(desk):
    start = desk.clock.now()
    assert await outbox.backlog(start) == (0, None)
    for n, status in enumerate(("sent", "sending", "pending", "failed", "pending")):
        await owe_text(ENGINEER + n, status, start + timedelta(minutes=n), kind="ack")
        await Outbox.filter(person_id=ENGINEER + n).update(status=status)
    assert await outbox.backlog(start) == (3, start + timedelta(minutes=1))


async def test_sent_pings_are_the_incidents_delivered_pings_in_order(desk):
    now = desk.clock.now()
    answered, other = await incident_pair(now)
    rows = [("new", answered.id, "sent", 11), ("ack", answered.id, "sent", 12), ("reminder", answered.id, "pending", None),
            ("breach", other.id, "sent", 13), ("repeat", answered.id, "sent", None), ("reminder", answered.id, "sent", 14),
            ("breach", answered.id, "sent", 15), ("repeat", answered.id, "sent", 16),
            ("new", answered.id, "pending", 17)]  # a long ping with only its first part out so far
    for n, (kind, incident_id, status, message_id) in enumerate(rows):
        await owe_text(-300 - n, kind, now, kind=kind, incident_id=incident_id)
        await Outbox.filter(chat_id=-300 - n).update(status=status, message_id=message_id)
    assert [(row.kind, row.message_id) for row in await outbox.sent_pings(answered.id)] == \
        [("new", 11), ("reminder", 14), ("breach", 15), ("repeat", 16)]


async def test_a_row_owed_to_someone_who_left_the_staff_is_dropped(desk, dispatcher):
    now = desk.clock.now()
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    await Staff.filter(user_id=ENGINEER).update(active=False)  # the staff row stays, inactive
    await owe_text(ENGINEER, "for staff eyes", now, kind="escalation")
    await dispatcher.drain_once()
    assert delivered(desk, ENGINEER, "for staff eyes") == []
    assert ((await Outbox.get()).status, (await Outbox.get()).error) == ("dropped", "the recipient is no longer staff")


async def test_retry_later_applies_the_changes_it_is_given(desk):
    await owe_text(-100800, "in a topic", desk.clock.now(), kind="ack", thread_id=5)
    row = await Outbox.get()
    later = desk.clock.now() + timedelta(seconds=3)
    params = {"text": "in a topic"}  # the topic is gone: the General topic
    await outbox.retry_later(row, later, "thread not found", params=params)
    stored = await Outbox.get()
    assert (stored.status, stored.due_at, stored.error, stored.params) == ("pending", later, "thread not found", params)
