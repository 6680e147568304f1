"""Hostile tests, fourth round, MAX (the harness of tests/test_max_room.py): a chat the bot was put back in, a
Russian dialog, a user who is also staff."""

import re

from domain import customers
from domain.models import Incident, Outbox
from tests import test_max_room as base
from tests.test_max_room import CHAT, IVAN, arrive, bind

room, max_api = base.room, base.max_api  # its fixtures


async def test_a_chat_the_bot_is_added_back_to_hears_its_acknowledgement(room, max_api):
    await bind(room, max_api)
    await arrive(room, max_api.message(CHAT, IVAN, "Сервер недоступен", "mid.r1"))
    # Someone removes the bot: the next thing owed there is refused (403) and the chat marked unreachable.
    max_api.removed_chats.add(CHAT)
    await arrive(room, max_api.message(CHAT, IVAN, "/new Почта тоже не работает", "mid.r2"))
    assert await customers.unreachable_since("max", str(CHAT)) is not None
    # Their admin puts the bot back (MAX says so: bot_added), and the customer writes again.
    max_api.removed_chats.discard(CHAT)
    await arrive(room, {"update_type": "bot_added", "timestamp": 1_760_000_100_000, "chat_id": CHAT,
                        "user": IVAN, "is_channel": False})
    mark = max_api.mark()
    await arrive(room, max_api.message(CHAT, IVAN, "/new Вы нас слышите? Всё лежит", "mid.r3"))
    incident = await Incident.get(key="ACME-3")
    rows = await Outbox.filter(kind="ack", incident=incident, channel="max").values_list("status", "error")
    assert any("ACME-3" in (c.body.get("text") or "") for c in max_api.sent(mark)), rows


async def test_a_russian_dialog_is_answered_in_russian(room, max_api):
    max_api.dialogs.add(IVAN["user_id"])
    mark = max_api.mark()
    await arrive(room, max_api.message(IVAN["user_id"], IVAN, "Здравствуйте", "mid.d1", chat_type="dialog"))
    [told] = max_api.sent(mark)
    assert re.search("[а-яА-Я]", told.body["text"]), told.body["text"]


async def test_a_broken_emoji_does_not_stop_max_intake(room, max_api):
    import asyncio

    from domain.models import ParkedUpdate
    from handlers.max.room import make_on_set_aside
    from handlers.max.transport import MaxPoller
    await bind(room, max_api)
    raw = max_api.message(CHAT, IVAN, "Почта не работает \ud83d", "mid.surrogate")
    stopping = asyncio.Event()
    poller = MaxPoller(room.max_bot, room.handle, room.clock, stopping, backoff=0.01,
                       on_set_aside=make_on_set_aside(room.max_bot, room.dp["desk"]))
    taking = asyncio.create_task(poller.take(raw))
    for _ in range(2000):  # taken in, or set aside after its third failure; a failing one is retried until the stop
        if taking.done():
            break
        await asyncio.sleep(0.01)
    stopping.set()
    assert await taking  # False: the stop came while it still held up every update after it
    assert await Incident.filter(key="ACME-1").exists() or await ParkedUpdate.filter(channel="max").exists()


async def test_a_link_code_sent_by_a_customer_in_their_chat_makes_them_no_staff(room, max_api):
    from domain import people
    from domain.identities import person_for
    from tests.people import ENGINEER, LEAD, engineer
    await bind(room, max_api)
    await people.register_staff(ENGINEER, "engineer", LEAD, room.clock.now())
    await room.say(ENGINEER, engineer, "/link max")
    code = re.search(r"^([A-Za-z0-9_-]{16,64})$", room.last_reply(ENGINEER), re.MULTILINE)[1]
    # The code reaches a customer (pasted to the wrong person); Ivan sends it in his company's chat, where the
    # README says a /link code is burnt.
    await arrive(room, max_api.message(CHAT, IVAN, code, "mid.lk1"))
    assert (await person_for("max", str(IVAN["user_id"]), room.clock.now())).id != ENGINEER
    await arrive(room, max_api.message(CHAT, IVAN, "Сервер недоступен", "mid.lk2"))
    assert await Incident.filter(key="ACME-1").exists()
