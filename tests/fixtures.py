"""Fixtures several test files share; a file takes one with `acme = fixtures.acme  # its fixture`."""

import pytest

from domain import customers, people
from tests.conftest import make_env
from tests.people import ENGINEER, GROUP, LEAD
from tests.process import STARTED_WITHIN, BotProcess


@pytest.fixture
async def acme(desk):
    """The in-process desk with customer ACME (24x7) bound to the Telegram group GROUP, and engineer Boris."""
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    await people.seen(ENGINEER, "eng_boris", "Boris", now)
    desk.stub.chat(GROUP, "Acme")
    return desk


@pytest.fixture
async def running_bot(stub, tmp_path, database_url):
    """The real program, polling the stand-in Bot API."""
    proc = BotProcess(make_env(stub.url, database_url), tmp_path)
    await proc.start()
    await stub.wait_for("getUpdates", timeout=STARTED_WITHIN)
    yield proc
    if proc.proc.returncode is None:
        await proc.stop()
