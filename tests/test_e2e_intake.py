"""End to end: a customer writes in their chat, the real program answers, staff respond and resolve."""


from tests import fixtures
from tests.conftest import make_env
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer, lead
from tests.process import STARTED_WITHIN, BotProcess

running_bot = fixtures.running_bot  # its fixture


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
    # A reply to the first problem joins ACME-1 even though ACME-2 is the latest.
    await stub.send(GROUP, customer, "Ещё деталь к первому", reply_to_message=first)
    assert not [c for c in stub.find("sendMessage", mark) if "ACME-1 is registered" in c.params.get("text", "")]

    # An engineer joins the staff and answers; then resolves; the customer is asked to rate.
    mark = stub.mark()
    await stub.send(LEAD, lead, "/staff_invite engineer")
    invite = (await stub.wait_text(LEAD, "?start=", since=mark))["text"]
    token = invite.rsplit("?start=", 1)[1].split()[0]
    await stub.send(ENGINEER, engineer, f"/start {token}")
    await stub.wait_text(ENGINEER, "engineer", since=mark)
    # The engineer's plain answer in the chat, replying to the second problem, is its first response.
    question = stub.find("sendMessage", where=lambda p: "ACME-2 is registered" in p.get("text", ""))[0]
    await stub.send(GROUP, engineer, "Отчёт настраивается в разделе «Экспорт»",
                    reply_to_message={"message_id": question.params["reply_parameters"]["message_id"], "date": 0,
                                      "chat": stub.chats[GROUP], "text": "x"})
    mark = stub.mark()
    await stub.send(ENGINEER, engineer, "/incidents")
    listing = (await stub.wait_text(ENGINEER, "ACME-2", since=mark))["text"]
    # Totals first, then the unanswered (ACME-1), then those in progress with their assignee (ACME-2).
    assert listing.startswith("Open: 2 · overdue: 0 · unanswered: 1")
    assert "ACME-1 P1 · Acme · 59 min left" in listing and "ACME-2 P4 · Acme · User2002 (@eng_boris)" in listing
    assert listing.index("ACME-1 P1") < listing.index("In progress:") < listing.index("ACME-2 P4")
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
    for fragment in ("Портал недоступен", "Скриншот прилагаю", "Ещё деталь к первому", "taken",
                     "resolved: Перезапустили", "rated 5/5"):
        assert fragment in card

    # A reply to the resolved incident reopens it.
    mark = stub.mark()
    await stub.send(GROUP, customer, "Снова не работает", reply_to_message=first)
    await stub.wait_text(GROUP, "ACME-1 is reopened", since=mark)
    assert await running_bot.stop() == 0


async def test_open_incidents_follow_a_policy_changed_between_starts(stub, tmp_path, database_url):
    """The README's SLA arithmetic: deadlines are recomputed from their inputs when the policy changes (at
    start), from the incident's start, not from the restart."""
    from datetime import datetime, timedelta

    from tests import databases

    def policy(target: str) -> str:
        path = tmp_path / f"policy-{target}.toml"
        path.write_text(f'[plans.premium]\nreaction = {{ P1 = "{target}", P2 = "{target}", P3 = "{target}", '
                        f'P4 = "{target}" }}\n')
        return str(path)

    async def start(folder: str, target: str) -> BotProcess:
        (tmp_path / folder).mkdir()
        proc = BotProcess(make_env(stub.url, database_url, POLICY_FILE=policy(target)), tmp_path / folder)
        mark = stub.mark()
        await proc.start()
        await stub.wait_for("getUpdates", since=mark, timeout=STARTED_WITHIN)
        return proc

    async def deadline() -> tuple[datetime, datetime]:
        (opened, due), = await databases.fetch(database_url, "SELECT opened_at, deadline FROM incident")
        return tuple(v if isinstance(v, datetime) else datetime.fromisoformat(str(v)) for v in (opened, due))

    first = await start("first", "4h")
    stub.chat(GROUP, "Acme support")
    mark = stub.mark()
    await stub.send(LEAD, lead, "/customer_add ACME premium Acme")
    await stub.send(GROUP, lead, "/bind ACME")
    await stub.wait_text(GROUP, "now connected", since=mark)
    await stub.send(GROUP, customer, "Отчёт не строится")
    await stub.wait_text(GROUP, "ACME-1", since=mark)
    assert await first.stop() == 0
    opened, due = await deadline()
    assert due - opened == timedelta(hours=4)

    second = await start("second", "1h")
    opened_again, due = await deadline()
    assert await second.stop() == 0
    assert opened_again == opened and due - opened == timedelta(hours=1)
