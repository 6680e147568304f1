"""End to end: the real program serves the desk page on its own web server; the links its /desk and
/wallboard answers carry work there, and no sign-in token reaches its log (DEBUG included)."""

import re

import aiohttp
import pytest

from tests.conftest import free_port, make_env
from tests.people import GROUP, LEAD, customer, lead
from tests.process import STARTED_WITHIN, BotProcess


@pytest.fixture
async def running_bot(stub, tmp_path, database_url):
    port = free_port()
    env = make_env(stub.url, database_url, LOG_LEVEL="DEBUG", WEB_PORT=str(port),
                   WEB_PUBLIC_URL=f"http://127.0.0.1:{port}")
    proc = BotProcess(env, tmp_path)
    await proc.start()
    try:
        await stub.wait_for("getUpdates", timeout=STARTED_WITHIN)
    except AssertionError:
        raise AssertionError("the bot did not start polling:\n" + proc.log()) from None
    yield proc, f"http://127.0.0.1:{port}"
    if proc.proc.returncode is None:
        await proc.stop()


async def test_the_real_program_serves_the_desk_page_and_the_wallboard(stub, running_bot):
    proc, base = running_bot
    mark = stub.mark()
    await stub.send(LEAD, lead, "/customer_add ACME premium Acme Corporation")
    await stub.wait_text(LEAD, "ACME", since=mark)
    stub.chat(GROUP, "Acme")
    mark = stub.mark()
    await stub.send(GROUP, lead, f"/bind@{stub.username} ACME")
    await stub.wait_text(GROUP, "ACME", since=mark)
    mark = stub.mark()
    await stub.send(GROUP, customer, "Сервер недоступен")
    await stub.wait_text(GROUP, "ACME-1", since=mark)

    mark = stub.mark()
    await stub.send(LEAD, lead, "/desk")
    text = (await stub.wait_text(LEAD, "/desk/login/", since=mark))["text"]
    link = re.search(r"http://\S+/desk/login/([A-Za-z0-9_-]+)", text)
    assert link and link.group(0).startswith(base + "/desk/login/")
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/desk") as signed_out:
            assert signed_out.status == 401 and "Content-Security-Policy" in signed_out.headers
        async with http.post(link.group(0), allow_redirects=False) as signed_in:
            assert signed_in.status == 303
            session = signed_in.cookies["desk_session"].value
        async with http.get(base + "/desk/live", cookies={"desk_session": session}) as live:
            assert live.status == 200 and "ACME-1" in await live.text()
        async with http.get(base + "/desk/static/desk.js") as script:
            assert script.status == 200  # the static files ship with the program

        mark = stub.mark()
        await stub.send(LEAD, lead, "/wallboard")
        text = (await stub.wait_text(LEAD, "/wallboard/", since=mark))["text"]
        wall = re.search(r"http://\S+/wallboard/([A-Za-z0-9_-]+)", text)
        async with http.get(wall.group(0)) as board:
            body = await board.text()
            assert board.status == 200 and "ACME-1" in body and "Сервер недоступен" not in body
    log = proc.log()
    for secret in (link.group(1), session, wall.group(1)):
        assert secret not in log
