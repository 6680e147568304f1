"""End to end: a lead taken out of LEAD_IDS loses the role when the real program starts again."""

from tests.conftest import make_env
from tests.people import ENGINEER, LEAD, engineer
from tests.process import STARTED_WITHIN, BotProcess


async def start(stub, tmp_path, database_url: str, lead_ids: str) -> BotProcess:
    proc = BotProcess(make_env(stub.url, database_url, LEAD_IDS=lead_ids), tmp_path)
    mark = stub.mark()
    await proc.start()
    try:
        await stub.wait_for("getUpdates", since=mark, timeout=STARTED_WITHIN)
    except AssertionError:
        raise AssertionError("the bot did not start polling:\n" + proc.log()) from None
    return proc


async def test_a_lead_taken_out_of_lead_ids_is_a_lead_no_more(stub, tmp_path, database_url):
    proc = await start(stub, tmp_path, database_url, f"{LEAD},{ENGINEER}")
    try:
        mark = stub.mark()
        await stub.send(ENGINEER, engineer, "/staff")
        await stub.wait_text(ENGINEER, "Staff", since=mark)  # a lead by the setting
    finally:
        assert await proc.stop() == 0

    proc = await start(stub, tmp_path, database_url, str(LEAD))
    try:
        # The stale lead menu goes: the stranger's menu is set in their chat.
        await stub.wait_for("setMyCommands", lambda p: p.get("scope", {}).get("chat_id") == ENGINEER
                            and [c["command"] for c in p["commands"]] == ["start", "help", "lang"], timeout=15)
        mark = stub.mark()
        await stub.send(ENGINEER, engineer, "/staff")
        await stub.wait_text(ENGINEER, "/staff is for the support team only", since=mark)
    finally:
        assert await proc.stop() == 0
