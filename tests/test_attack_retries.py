"""429 on a direct answer: the update is handled again (the same update id); what the person should have
heard must not vanish because the first attempt's database change already happened."""

from datetime import timedelta

import pytest
from aiogram.exceptions import TelegramRetryAfter

from domain import customers, people
from domain.models import Incident, IncidentMessage
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer

TOO_MANY = (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                  "parameters": {"retry_after": 1}})


@pytest.fixture
async def acme(desk):
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Acme")
    return desk


async def handled_with_a_429_first(desk, update: dict) -> None:
    desk.stub.faults["sendMessage"] = [TOO_MANY]
    with pytest.raises(TelegramRetryAfter):  # the poller retries the same update after the wait
        await desk.dp.feed_raw_update(desk.bot, update)
    await desk.dp.feed_raw_update(desk.bot, update)
    await desk.flush()


async def test_reopen_notice_survives_a_429(acme):
    first = await acme.say(GROUP, customer, "Problem")
    await acme.say(ENGINEER, engineer, "/resolve ACME-1 done")
    acme.clock.advance(timedelta(minutes=10))
    mark = acme.stub.mark()
    reply = acme.stub.make_message(GROUP, customer, "still broken", reply_to_message=first,
                                   date=int(acme.clock.now().timestamp()))
    # The notice is owed with the reopen (the outbox), not answered in the handler: a 429 on it is waited
    # out and it arrives once; the update itself is handled once and a redelivery owes nothing twice.
    acme.stub.faults["sendMessage"] = [TOO_MANY]
    await acme.dp.feed_raw_update(acme.bot, {"update_id": 9001, "message": reply})
    await acme.dp.feed_raw_update(acme.bot, {"update_id": 9001, "message": reply})
    await acme.flush()
    acme.clock.advance(timedelta(seconds=2))
    await acme.flush()
    assert (await Incident.get(key="ACME-1")).status == "in_progress"
    assert await IncidentMessage.filter(conversation__ref=str(GROUP), ref=str(reply["message_id"])).count() == 1
    assert len([text for text in acme.replies(GROUP, mark) if "reopened" in text]) == 1



async def test_resolve_answer_survives_a_429(acme):
    """Held: /resolve retried after a 429 on its answer confirms, without an error."""
    await acme.say(GROUP, customer, "Problem")
    mark = acme.stub.mark()
    command = acme.stub.make_message(ENGINEER, engineer, "/resolve ACME-1 done")
    await handled_with_a_429_first(acme, {"update_id": 9002, "message": command})
    assert (await Incident.get(key="ACME-1")).status == "resolved"
    answers = acme.replies(ENGINEER, mark)
    assert answers and "is resolved" in answers[-1] and "not open" not in answers[-1].lower(), answers
