"""End to end: the real program, polling the stub Bot API server, used the way a support team starts."""

import re

import pytest

from tests.conftest import make_env
from tests.people import ENGINEER, GROUP, LEAD, STRANGER, customer, engineer, lead, stranger
from tests.process import STARTED_WITHIN, BotProcess
from tests.stub_api import TOKEN


@pytest.fixture
async def running_bot(stub, tmp_path, database_url):
    env = make_env(stub.url, database_url, LOG_LEVEL="DEBUG")
    proc = BotProcess(env, tmp_path)
    await proc.start()
    try:
        await stub.wait_for("getUpdates", timeout=STARTED_WITHIN)
    except AssertionError:
        raise AssertionError("the bot did not start polling:\n" + proc.log()) from None
    yield proc
    if proc.proc.returncode is None:
        await proc.stop()


async def test_team_sets_up_a_customer_and_staff(stub, running_bot, tmp_path):
    # Beside the polling, the command menus are set: the lead's own and the defaults.
    await stub.wait_for("setMyCommands", lambda p: p.get("scope", {}).get("chat_id") == LEAD, timeout=10)
    assert stub.find("setMyCommands", where=lambda p: p.get("scope", {}).get("type") == "default")

    # A lead creates a customer.
    mark = stub.mark()
    await stub.send(LEAD, lead, "/customer_add acme 24x7 Acme Corporation")
    await stub.wait_text(LEAD, "ACME", since=mark)

    # The lead asks for an invitation link for the customer's group.
    mark = stub.mark()
    await stub.send(LEAD, lead, "/invite ACME")
    text = (await stub.wait_text(LEAD, "startgroup=", since=mark))["text"]
    token = re.search(r"startgroup=([A-Za-z0-9_-]+)", text).group(1)
    assert f"https://t.me/{stub.username}?startgroup={token}" in text

    # Telegram sends /start <token> in the group the link was used in: the group is bound.
    stub.chat(GROUP, "Acme ↔ Support")
    mark = stub.mark()
    await stub.send(GROUP, lead, f"/start@{stub.username} {token}")
    await stub.wait_text(GROUP, "ACME", since=mark)

    # The same link used again is refused.
    mark = stub.mark()
    await stub.send(-100777, stranger, f"/start@{stub.username} {token}")
    await stub.wait_text(-100777, "already been used", since=mark)

    # An engineer is invited and redeems the invitation in private.
    mark = stub.mark()
    await stub.send(LEAD, lead, "/staff_invite engineer")
    text = (await stub.wait_text(LEAD, "?start=", since=mark))["text"]
    staff_token = re.search(r"\?start=([A-Za-z0-9_-]+)", text).group(1)
    mark = stub.mark()
    await stub.send(ENGINEER, engineer, f"/start {staff_token}")
    await stub.wait_text(ENGINEER, "engineer", since=mark)

    # /staff lists the lead and the engineer, who can receive DMs.
    mark = stub.mark()
    await stub.send(LEAD, lead, "/staff")
    listing = (await stub.wait_text(LEAD, "@eng_boris", since=mark))["text"]
    assert str(LEAD) in listing and "engineer" in listing and "DMs work" in listing

    # The customer card shows the bound chat.
    mark = stub.mark()
    await stub.send(LEAD, lead, "/customer ACME")
    card = (await stub.wait_text(LEAD, "Acme Corporation", since=mark))["text"]
    assert str(GROUP) in card

    # A stranger is refused a lead command.
    mark = stub.mark()
    await stub.send(STRANGER, stranger, "/customers")
    await stub.wait_text(STRANGER, "support team only", since=mark)

    # A clean stop on SIGTERM; the token and the invitation tokens never reach the log.
    assert await running_bot.stop() == 0
    log = running_bot.log()
    assert TOKEN not in log and token not in log and staff_token not in log
    assert "running as @" in log


async def test_bad_configuration_stops_with_one_line(stub, tmp_path, database_url):
    env = make_env(stub.url, database_url, THREAD_WINDOW="soon")
    proc = BotProcess(env, tmp_path)
    await proc.start()
    assert await proc.proc.wait() == 2
    lines = proc.log().strip().splitlines()
    assert lines == ["configuration error: THREAD_WINDOW='soon' is invalid; expected a positive duration like "
                     "30s, 15m, 4h, 7d or 1h30m"]


async def test_check_config_and_migrate_commands(stub, tmp_path):
    env = make_env(stub.url, f"sqlite://{tmp_path}/db/desk.sqlite3")
    ok = BotProcess(env, tmp_path)
    await ok.start("check-config")
    assert await ok.proc.wait() == 0 and "configuration OK" in ok.log()

    (tmp_path / "policy.toml").write_text('[plans.premium]\nreaction = { P1 = "0s" }\n')
    bad = BotProcess({**env, "POLICY_FILE": str(tmp_path / "policy.toml")}, tmp_path / "db")
    (tmp_path / "db").mkdir()
    await bad.start("check-config")
    assert await bad.proc.wait() == 2
    assert bad.log().strip().endswith(
        "plans.premium.reaction.P1 = '0s' is invalid; expected a positive duration like 30s, 15m, 4h, 7d or 1h30m")

    migrate = BotProcess(env, tmp_path)
    await migrate.start("migrate")
    assert await migrate.proc.wait() == 0
    assert (tmp_path / "db" / "desk.sqlite3").exists()  # the folder of the SQLite file is created


async def test_sigterm_finishes_the_update_in_hand(stub, running_bot, database_url):
    """SIGTERM while a handler and the outbox both wait on Telegram: both answers still come back (Telegram
    accepted them), the process exits 0 within 10 seconds, and no outbox row is left "sending"."""
    import time

    from tests import databases

    stub.chat(GROUP, "Acme")
    mark = stub.mark()
    await stub.send(LEAD, lead, "/customer_add SLOW 8x5 Slow Co")
    await stub.send(GROUP, lead, "/bind SLOW")
    await stub.wait_text(GROUP, "now connected", since=mark)
    stub.delays["sendMessage"] = 2.0
    mark, arrived = stub.mark(), stub.mark("arrived")
    await stub.send(GROUP, customer, "the export fails")  # acknowledged through the outbox
    await stub.send(LEAD, lead, "/customers")  # answered by the handler itself
    # Only the two answers under test: a rotation-gap warning to the lead may be in flight too, by the hour.
    def answer(p):
        return (int(p["chat_id"]), "SLOW-1" in p["text"] if int(p["chat_id"]) == GROUP else "Slow Co" in p["text"])

    in_flight = await stub.wait_for("sendMessage", lambda p: answer(p)[1], since=arrived, timeout=10,
                                    among="arrived", count=2)
    assert {int(c.params["chat_id"]) for c in in_flight} == {GROUP, LEAD}
    started = time.monotonic()
    assert await running_bot.stop() == 0
    assert time.monotonic() - started < 10
    accepted = {answer(c.params) for c in stub.find("sendMessage", mark)}
    assert {(GROUP, True), (LEAD, True)} <= accepted
    assert stub.refused == []
    rows = dict(await databases.fetch(database_url, "SELECT status, count(*) FROM outbox GROUP BY status"))
    assert "sending" not in rows, rows  # what is still owed (a ping, say) waits as pending for the next start
    assert await databases.fetch(database_url, "SELECT status FROM outbox WHERE kind = 'ack'") == [("sent",)]
    log = running_bot.log()
    assert "stopping: finishing the work in hand" in log
    assert re.search(r"update \d+ \(message\) handled in \d+ ms", log)  # it finished before the exit
