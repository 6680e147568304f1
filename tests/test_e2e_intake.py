"""End to end: a customer writes in their chat, the real program answers, staff respond and resolve."""

import pytest

from tests.conftest import make_env
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer, lead
from tests.process import BotProcess


@pytest.fixture
async def running_bot(stub, tmp_path):
    proc = BotProcess(make_env(stub.url, f"sqlite://{tmp_path}/desk.sqlite3"), tmp_path)
    await proc.start()
    await stub.wait_for("getUpdates", timeout=20)
    yield proc
    if proc.proc.returncode is None:
        await proc.stop()


async def test_customer_incident_lifecycle(stub, running_bot):
    stub.chat(GROUP, "Acme support")
    mark = stub.mark()
    await stub.send(LEAD, lead, "/customer_add ACME 24x7 Acme")
    await stub.send(GROUP, lead, "/bind ACME")
    await stub.wait_text(GROUP, "now connected", since=mark)

    # The customer writes: an incident with a key and a priority, acknowledged in reply.
    mark = stub.mark()
    first = await stub.send(GROUP, customer, "Портал недоступен, ошибка 502")
    ack = await stub.wait_text(GROUP, "ACME-1", since=mark)
    assert "P1" in ack["text"] and ack["reply_parameters"]["message_id"] == first["message_id"]

    # The same update delivered twice and a follow-up: no second acknowledgement.
    mark = stub.mark()
    await stub.feed({"message": first})
    await stub.send(GROUP, customer, "Скриншот прилагаю")
    # /new splits off a second incident.
    await stub.send(GROUP, customer, "/new Отдельный вопрос: как настроить отчёт?")
    second = await stub.wait_text(GROUP, "ACME-2", since=mark)
    assert "P4" in second["text"]
    assert not [c for c in stub.find("sendMessage", mark) if "ACME-1" in c.params.get("text", "")]

    # An engineer joins the staff and answers; then resolves; the customer is asked to rate.
    mark = stub.mark()
    await stub.send(LEAD, lead, "/staff_invite engineer")
    invite = (await stub.wait_text(LEAD, "?start=", since=mark))["text"]
    token = invite.rsplit("?start=", 1)[1].split()[0]
    await stub.send(ENGINEER, engineer, f"/start {token}")
    await stub.wait_text(ENGINEER, "engineer", since=mark)
    mark = stub.mark()
    await stub.send(ENGINEER, engineer, "/take ACME-1")
    await stub.wait_text(GROUP, "ACME-1: an engineer is on it", since=mark)
    await stub.send(ENGINEER, engineer, "/resolve ACME-1 Перезапустили балансировщик")
    resolved = await stub.wait_text(GROUP, "ACME-1 is resolved", since=mark)
    stars = resolved["reply_markup"]["inline_keyboard"][0]
    await stub.press({"message_id": 1, "date": 0, "chat": stub.chats[GROUP], "text": "x"}, customer,
                     stars[4]["callback_data"])
    await stub.wait_for("answerCallbackQuery", lambda p: "rated 5 of 5" in p.get("text", ""), since=mark)

    # The card shows the whole history.
    mark = stub.mark()
    await stub.send(ENGINEER, engineer, "/incident ACME-1")
    card = (await stub.wait_text(ENGINEER, "History", since=mark))["text"]
    for fragment in ("Портал недоступен", "Скриншот прилагаю", "taken", "resolved: Перезапустили", "rated 5/5"):
        assert fragment in card
    assert await running_bot.stop() == 0
