"""The desk page over HTTP: nothing without a session, a sign-in link that works once, the cookie's
attributes, a strict CSP, the wallboard without message texts or customers' people, and the commands."""

import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.desk_web import COOKIE, CSP, band, countdown
from bot.settings import load_settings
from bot.web import build_web_app
from domain import customers, people
from scheduler.jobs import Heartbeat
from tests.clock import FrozenClock
from tests.conftest import Desk, make_env
from tests.people import ENGINEER, GROUP, LEAD, STRANGER, customer, engineer, lead, stranger

PUBLIC = "http://desk.test:8080"
LINK = re.compile(r"https?://\S+?(/(?:desk/login|wallboard)/[A-Za-z0-9_-]+)")


async def serve(stub, db, **env):
    settings = load_settings(make_env(stub.url, db, **{"WEB_PUBLIC_URL": PUBLIC, **env}))
    desk = Desk(stub, settings, FrozenClock())
    await people.ensure_leads(settings.lead_ids, desk.clock.now())
    client = TestClient(TestServer(build_web_app(settings, desk.dp, desk.bot, Heartbeat(), desk.clock)))
    await client.start_server()
    return desk, client


@pytest.fixture
async def web(stub, db):
    desk, client = await serve(stub, db)
    now = desk.clock.now()
    await customers.add_customer("ACME", "premium", "Acme Corporation", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    desk.stub.chat(GROUP, "Acme")
    yield desk, client
    await client.close()
    if desk.bot.session._session is not None:
        await desk.bot.session._session.close()


def link_in(text: str, base: str = PUBLIC) -> str:
    found = LINK.search(text)
    assert found and text[found.start():].startswith(base), text
    return found.group(1)


async def sign_in(desk, client, user=engineer) -> str:
    """/desk in a private chat, then the button on the page the link opens; returns the session cookie."""
    await desk.say(user["id"], user, "/desk")
    path = link_in(desk.last_reply(user["id"]))
    response = await client.post(path, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/desk"
    return response.cookies[COOKIE].value


async def test_nothing_under_desk_without_a_session(web):
    desk, client = web
    await desk.say(GROUP, customer, "Сервер недоступен, пароль от админки qwerty")
    for path in ("/desk", "/desk/live", "/desk/incident/ACME-1", "/desk/incident/ACME-1/live"):
        for cookies in ({}, {COOKIE: "forged"}):
            response = await client.get(path, cookies=cookies)
            body = await response.text()
            assert response.status == 401, path
            assert "ACME" not in body and "qwerty" not in body
            assert response.headers["Content-Security-Policy"] == CSP
    page = await (await client.get("/desk")).text()
    assert "/desk" in page and "private chat" in page and "10 minutes" in page  # how to sign in


async def test_a_sign_in_link_works_once_and_sets_a_strict_session_cookie(web):
    desk, client = web
    await desk.say(ENGINEER, engineer, "/desk")
    sent = desk.stub.find("sendMessage")[-1].params
    assert sent["link_preview_options"] == {"is_disabled": True}
    path = link_in(sent["text"])
    assert "10 min" in sent["text"]
    form = await client.get(path)  # what a link preview or a prefetch would do: uses nothing
    assert form.status == 200 and 'method="post"' in await form.text()
    assert (await client.get(path)).status == 200
    response = await client.post(path, allow_redirects=False)
    assert response.status == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/desk" in cookie
    assert "Max-Age=43200" in cookie and "Secure" not in cookie  # http: a Secure cookie would never come back
    session = response.cookies[COOKIE].value
    page = await client.get("/desk", cookies={COOKIE: session})
    assert page.status == 200 and "ACME" not in await page.text()
    again = await client.post(path, allow_redirects=False)
    assert again.status == 403 and "used" in await again.text() and COOKIE not in again.cookies
    assert (await client.get(path)).status == 403


async def test_the_cookie_is_secure_when_the_public_address_is_https(stub, db):
    desk, client = await serve(stub, db, WEB_PUBLIC_URL="https://desk.example.com/")
    try:
        await people.register_staff(ENGINEER, "engineer", LEAD, desk.clock.now())
        await desk.say(ENGINEER, engineer, "/desk")
        path = link_in(desk.last_reply(ENGINEER), "https://desk.example.com/desk/login/")
        response = await client.post(path, allow_redirects=False)
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        await client.close()


async def test_an_expired_link_is_refused(web):
    desk, client = web
    await desk.say(ENGINEER, engineer, "/desk")
    path = link_in(desk.last_reply(ENGINEER))
    desk.clock.advance(timedelta(minutes=10))
    response = await client.post(path, allow_redirects=False)
    assert response.status == 403 and "expired" in await response.text()


async def test_desk_is_for_staff_in_a_private_chat_only(web):
    desk, _ = web
    await desk.say(STRANGER, stranger, "/desk")
    assert "/desk/login/" not in desk.last_reply(STRANGER)
    before = len(desk.stub.find("sendMessage"))
    await desk.say(GROUP, engineer, "/desk")
    assert all("/desk/login/" not in c.params["text"] for c in desk.stub.find("sendMessage", before))
    await desk.say(ENGINEER, engineer, "/desk now")
    assert desk.last_reply(ENGINEER).startswith("Usage: /desk")


async def test_the_page_and_the_card_show_the_desk_to_staff(web):
    desk, client = web
    await desk.say(GROUP, customer, "Сервер недоступен")
    session = await sign_in(desk, client)
    page = await (await client.get("/desk", cookies={COOKIE: session})).text()
    assert "ACME-1" in page and "Acme Corporation" in page and "Сервер недоступен" in page
    assert 'data-deadline="2026-03-02T12:15:00.000Z"' in page and "0:15:00" in page
    assert 'class="countdown band-warn"' in page  # 15 minutes left: "under 15 min" starts below that
    live = await client.get("/desk/live", cookies={COOKIE: session})
    assert live.status == 200 and "ACME-1" in await live.text() and "<html" not in await live.text()
    card = await client.get("/desk/incident/acme-1", cookies={COOKIE: session})
    text = await card.text()
    assert card.status == 200 and "Сервер недоступен" in text and "opened, P1" in text
    missing = await client.get("/desk/incident/ACME-7", cookies={COOKIE: session})
    assert missing.status == 404 and "ACME-7" in await missing.text()


async def test_every_page_carries_a_strict_csp_and_no_inline_code(web):
    desk, client = web
    await desk.say(GROUP, customer, "<script>alert(1)</script> не работает")
    session = await sign_in(desk, client)
    for path in ("/desk", "/desk/incident/ACME-1"):
        response = await client.get(path, cookies={COOKIE: session})
        body = await response.text()
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["Cache-Control"] == "no-store"
        assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # escaped
        assert re.findall(r"<script[^>]*>", body) == ['<script src="/desk/static/desk.js">']  # no inline script
        assert " style=" not in body and " on" not in re.sub(r"\s+", " ", "".join(re.findall(r"<[^>]+>", body)))
    assert "script-src 'self'" in CSP and "unsafe" not in CSP and "frame-ancestors 'none'" in CSP
    script = await client.get("/desk/static/desk.js")
    assert script.status == 200 and "fetch(" in await script.text()


async def test_a_removed_engineers_session_stops_at_once(web):
    desk, client = web
    session = await sign_in(desk, client)
    assert (await client.get("/desk/live", cookies={COOKIE: session})).status == 200
    await desk.say(LEAD, lead, f"/staff_remove {ENGINEER}")
    assert (await client.get("/desk/live", cookies={COOKIE: session})).status == 401
    assert (await client.get("/desk", cookies={COOKIE: session})).status == 401


async def test_signing_out_ends_the_session(web):
    desk, client = web
    session = await sign_in(desk, client)
    page = await (await client.get("/desk", cookies={COOKIE: session})).text()
    assert 'action="/desk/logout"' in page
    response = await client.post("/desk/logout", cookies={COOKIE: session}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/desk"
    assert 'desk_session=""' in response.headers["Set-Cookie"] and "Path=/desk" in response.headers["Set-Cookie"]
    assert (await client.get("/desk", cookies={COOKIE: session})).status == 401


async def test_the_page_is_in_the_readers_language(web):
    desk, client = web
    await desk.say(ENGINEER, engineer, "/lang ru")
    await desk.say(GROUP, customer, "Сервер недоступен")
    session = await sign_in(desk, client)
    page = await (await client.get("/desk", cookies={COOKIE: session})).text()
    assert "Дежурят сейчас" in page and "Премиум" in page and 'lang="ru"' in page
    assert "On call now" not in page


async def test_the_wallboard_shows_keys_and_codes_but_no_texts_or_people_until_revoked(web):
    desk, client = web
    await desk.say(LEAD, lead, "/customer_set ACME contact Ivan Petrov, CIO")
    await desk.say(GROUP, customer, "Сервер недоступен, пароль qwerty")
    await desk.say(ENGINEER, engineer, "/wallboard")
    assert "for leads only" in desk.last_reply(ENGINEER)
    await desk.say(LEAD, lead, "/wallboard")
    path = link_in(desk.last_reply(LEAD))
    assert path.startswith("/wallboard/")
    response = await client.get(path)
    body = await response.text()
    assert response.status == 200 and response.headers["Content-Security-Policy"] == CSP
    assert "ACME-1" in body and "ACME" in body and "0:15:00" in body
    for secret in ("Сервер недоступен", "qwerty", "Acme Corporation", "Ivan Petrov", customer["first_name"],
                   "/desk/incident/"):
        assert secret not in body, secret
    live = await client.get(path + "/live")
    assert live.status == 200 and "ACME-1" in await live.text() and "qwerty" not in await live.text()
    await desk.say(LEAD, lead, "/wallboard_revoke")
    assert "1 wallboard link switched off" in desk.last_reply(LEAD)
    assert (await client.get(path)).status == 404 and (await client.get(path + "/live")).status == 404
    await desk.say(LEAD, lead, "/wallboard_revoke")
    assert "no wallboard links" in desk.last_reply(LEAD)


def test_countdown_and_bands_match_the_page_script():
    from datetime import UTC, datetime

    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert countdown(now + timedelta(hours=2, minutes=3, seconds=4), now) == "2:03:04"
    assert countdown(now + timedelta(seconds=59, microseconds=900000), now) == "0:00:59"
    assert countdown(now, now) == "−0:00:00"
    assert countdown(now - timedelta(minutes=5, seconds=12), now) == "−0:05:12"
    assert [band(now + d, now) for d in (timedelta(hours=1), timedelta(minutes=59), timedelta(minutes=15),
                                         timedelta(minutes=14), timedelta(seconds=1), timedelta(0))] == [
        "band-ok", "band-warn", "band-warn", "band-hot", "band-hot", "band-breached"]


def test_web_public_url_is_checked_and_defaults_to_the_listening_address():
    from bot.settings import load_settings as load
    from domain.errors import ConfigError

    base = {"BOT_TOKEN": "123456:" + "A" * 30, "WEB_HOST": "10.0.0.5", "WEB_PORT": "8181"}
    assert load(base).web_public_url == "http://10.0.0.5:8181" and not load(base).secure_cookies
    assert load({**base, "WEB_PUBLIC_URL": ""}).web_public_url == "http://10.0.0.5:8181"
    https = load({**base, "WEB_PUBLIC_URL": "https://desk.example.com/"})
    assert https.web_public_url == "https://desk.example.com" and https.secure_cookies
    for bad in ("desk.example.com", "ftp://desk.example.com", "https://", "https://desk.example.com/?a=1"):
        with pytest.raises(ConfigError, match="WEB_PUBLIC_URL"):
            load({**base, "WEB_PUBLIC_URL": bad})
