"""Fault test with the real program (issue 12, items 6 and 9): a customer group that refuses every call
with 403, button answers that fail with 400 ("query is too old") and an update aiogram cannot read hold
nobody — the other customers' messages are acknowledged within seconds, and nothing is lost or doubled."""

import asyncio
import re
import time
from collections import Counter

import aiohttp

from tests import databases
from tests.conftest import free_port
from tests.people import LEAD, customer, customer_2, lead
from tests.test_faults import start

REFUSING = -100777
OTHERS = {"BETA": -100801, "GAMMA": -100802, "DELTA": -100803}
TOO_OLD = (400, {"ok": False, "error_code": 400,
                 "description": "Bad Request: query is too old and response timeout expired or query ID is invalid"})


def acks(stub) -> Counter:
    """Acknowledgements Telegram accepted in the other customers' chats, by incident key."""
    return Counter(re.search(r"[A-Z]+-\d+", m["text"]).group(0) for m in stub.delivered
                   if "is registered" in m["text"] and int(m["chat_id"]) in OTHERS.values())


async def customer_messages(database_url: str) -> Counter:
    rows = await databases.fetch(database_url, "SELECT c.ref, m.ref FROM incident_message m JOIN conversation c "
                                               "ON c.id = m.conversation_id WHERE m.source='customer'")
    return Counter((int(chat), int(message)) for chat, message in rows)


async def test_a_refusing_group_and_expired_buttons_hold_nobody(stub, tmp_path, database_url):
    port = free_port()
    proc = await start(stub, tmp_path / "bot", database_url, WEB_PORT=str(port))
    await stub.send(LEAD, lead, "/customer_add ACME premium Acme")
    for code in OTHERS:
        await stub.send(LEAD, lead, f"/customer_add {code} 24x7 {code.title()}")
    for code, chat in {"ACME": REFUSING, **OTHERS}.items():
        stub.chat(chat, code.title())
        await stub.send(chat, lead, f"/bind {code}")
    await stub.wait_for("sendMessage", lambda p: "now connected" in p.get("text", ""), count=4, timeout=30)
    first = await stub.send(OTHERS["BETA"], customer, "/new first problem")
    await stub.wait_text(OTHERS["BETA"], "BETA-1 is registered", timeout=30)
    ack = next(m for m in stub.delivered if "BETA-1 is registered" in m["text"])

    # The bot is kicked from ACME's group, and buttons are answered too late.
    stub.forbidden_chats.add(REFUSING)
    delivered_before = len(stub.delivered)
    stub.faults["answerCallbackQuery"] = [TOO_OLD] * 1000
    mark, refused_mark = stub.mark(), stub.mark("refused")
    refused = [await stub.send(REFUSING, customer, f"acme problem {n}") for n in range(3)]
    await stub.send(REFUSING, customer, "/status")  # its answer is refused
    await stub.send(REFUSING, lead, "/take ACME-1")  # so is this one's: the take stands
    unreadable = await stub.feed({"message": {"message_id": 1, "date": int(time.time()), "from": customer,
                                              "chat": {"id": "acme-2027", "type": "supergroup"}, "text": "new API"}})
    shown = {"message_id": ack["message_id"], "date": int(time.time()), "chat": stub.chats[OTHERS["BETA"]],
             "from": stub.bot_user(), "text": ack["text"]}
    p2 = next(b["callback_data"] for row in ack["reply_markup"]["inline_keyboard"] for b in row
              if b["text"].startswith("P2"))
    await stub.press(shown, customer, p2)
    # The refused answers were tried: the updates are in hand. Now the other customers write.
    await stub.wait_for("sendMessage", lambda p: int(p["chat_id"]) == REFUSING, since=refused_mark, count=2,
                        timeout=30, among="refused")
    others = [await stub.send(chat, customer_2, f"/new other problem {n}")
              for n in range(3) for chat in OTHERS.values()]
    # Acknowledged while the refusing group's updates are refused (before, they were retried for ever and
    # no later batch was taken: these were never acknowledged).
    await stub.wait_for("sendMessage", lambda p: "is registered" in p.get("text", "")
                        and int(p["chat_id"]) in OTHERS.values(), since=mark, count=len(others), timeout=30)
    await stub.wait_text(OTHERS["BETA"], "BETA-1: priority changed to P2", since=mark, timeout=30)
    await stub.wait_for("sendMessage", lambda p: int(p["chat_id"]) == LEAD and "parked as #" in p.get("text", ""),
                        since=mark, timeout=30)

    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200 and (await response.json())["parked"] == 1
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            metrics = await response.text()
    assert 'dutydesk_telegram_refusals_total{reason="forbidden"} 2.0' in metrics
    assert 'dutydesk_telegram_refusals_total{reason="old_query"} 1.0' in metrics

    await asyncio.sleep(2)  # time for a repeat to show up
    assert await proc.stop() == 0
    stored = await customer_messages(database_url)
    expected = {(int(m["chat"]["id"]), m["message_id"]) for m in [first, *refused, *others]}
    assert set(stored) == expected and set(stored.values()) == {1}  # nothing lost, nothing twice
    assert sorted(acks(stub).values()) == [1] * (1 + len(others))
    assert not [m for m in stub.delivered[delivered_before:] if int(m["chat_id"]) == REFUSING]  # all refused
    changes = [m for m in stub.delivered if "BETA-1: priority changed to P2" in m["text"]]
    assert len(changes) == 1
    (assignee,), = await databases.fetch(database_url, "SELECT assignee_id FROM incident WHERE key='ACME-1'")
    assert assignee == LEAD
    (parked,), = await databases.fetch(database_url, "SELECT count(*) FROM parked_update WHERE reason='unparseable' "
                                                     f"AND update_id={unreadable['update_id']}")
    assert parked == 1
