"""The desk page in a real browser: Debian's Chromium driven by Playwright, against the bot's own web app
and the real Dispatcher in this process (so the clock is the injected one and Telegram is the stub).

Every wait is for a condition (Playwright's `expect` polls until it holds). Each test saves a screenshot,
into DESK_SCREENSHOTS when set (docs/desk.png comes from `test_the_page_at_a_glance_on_a_desk_and_a_phone`),
else into the test's temporary folder. Without Chromium or Playwright the tests are skipped, unless
REQUIRE_CHROMIUM=1 (CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot.settings import load_settings
from bot.web import build_web_app
from domain import customers, people
from domain.models import Rotation
from scheduler.jobs import Heartbeat
from tests.clock import FrozenClock
from tests.conftest import Desk, free_port, make_env
from tests.people import ARCHITECT, ENGINEER, GROUP, LEAD, OTHER_GROUP, customer, customer_2, engineer, lead

MSK = ZoneInfo("Europe/Moscow")
WAIT = 15_000  # ms: the most any condition may take (the page refreshes every 2 s); passing tests take less
LINK = re.compile(r"https?://\S+")
boris = {**engineer, "first_name": "Boris", "last_name": "Orlov"}  # the engineer, with a name for the pictures


def _need(what: str) -> None:
    if os.environ.get("REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{what} is required (REQUIRE_CHROMIUM=1)")
    pytest.skip(f"{what} is not installed (Debian: apt-get install chromium; pip install -e '.[test]')")


try:
    from playwright.async_api import async_playwright, expect
except ImportError:  # pragma: no cover - CI installs it
    async_playwright = expect = None

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def browser():
    if async_playwright is None:
        _need("the playwright package")
    if CHROMIUM is None:
        _need("Chromium")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses to sandbox as root
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield launched
        await launched.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("DESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Site:
    """The bot's web app on a real port, with the in-process desk behind it."""

    def __init__(self, desk: Desk, url: str) -> None:
        self.desk, self.url = desk, url

    async def link(self, user: dict, command: str = "/desk") -> str:
        await self.desk.say(user["id"], user, command)
        found = LINK.search(self.desk.last_reply(user["id"]))
        assert found and found.group(0).startswith(self.url), self.desk.last_reply(user["id"])
        return found.group(0)

    async def signed_in(self, browser, user: dict = boris, **context):
        """A fresh browser context signed in as `user` through the link and the button."""
        ctx = await browser.new_context(**context)
        page = await ctx.new_page()
        await page.goto(await self.link(user))
        await page.click("#sign-in")
        await expect(page).to_have_url(self.url + "/desk", timeout=WAIT)
        await expect(page.locator("section.oncall")).to_be_visible(timeout=WAIT)
        return page


@pytest.fixture
async def site(stub, db):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = load_settings(make_env(stub.url, db, WEB_PUBLIC_URL=url, WEB_PORT=str(port)))
    desk = Desk(stub, settings, FrozenClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC)))  # 13:00 MSK
    now = desk.clock.now()
    await people.ensure_leads(settings.lead_ids, now)
    await customers.add_customer("ACME", "premium", "Acme Corporation", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", LEAD, now)
    await people.seen(ENGINEER, "eng_boris", "Boris Orlov", now)
    desk.stub.chat(GROUP, "Acme")
    runner = web.AppRunner(build_web_app(settings, desk.dp, desk.bot, Heartbeat(), desk.clock), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield Site(desk, url)
    await runner.cleanup()
    if desk.bot.session._session is not None:
        await desk.bot.session._session.close()


async def test_sign_in_by_link_works_once_and_a_second_use_is_refused(site, browser, shots):
    link = await site.link(boris)
    first = await browser.new_context()
    page = await first.new_page()
    await page.goto(link)
    await page.click("#sign-in")
    await expect(page.locator("header .who")).to_contain_text("Boris Orlov", timeout=WAIT)
    await page.screenshot(path=shots / "sign-in-first.png", full_page=True)
    second = await browser.new_context()
    again = await second.new_page()
    response = await again.goto(link)
    assert response.status == 403
    await expect(again.locator("#notice")).to_contain_text("used already", timeout=WAIT)
    assert await again.locator("#sign-in").count() == 0
    await again.goto(site.url + "/desk")
    await expect(again.locator("#notice h2")).to_have_text("Sign in to the desk page", timeout=WAIT)
    await again.screenshot(path=shots / "sign-in-second.png", full_page=True)


async def test_an_incident_from_a_telegram_message_appears_without_a_reload(site, browser, shots):
    page = await site.signed_in(browser)
    await expect(page.locator("section.incidents .empty")).to_be_visible(timeout=WAIT)
    await page.evaluate("window.sameDocument = true")  # gone if the page reloads
    await site.desk.say(GROUP, customer, "Сервер недоступен с утра")
    row = page.locator('tr[data-key="ACME-1"]')
    await expect(row).to_be_visible(timeout=WAIT)
    await expect(row).to_contain_text("ACME · Acme Corporation")
    await expect(row).to_contain_text("P1")
    await expect(row.locator(".countdown")).to_have_text(re.compile(r"^0:1[45]:\d\d$"), timeout=WAIT)
    assert await page.evaluate("window.sameDocument === true")
    await expect(page.locator(".live-note")).to_be_visible()
    await page.screenshot(path=shots / "incident-appears.png", full_page=True)


async def test_the_countdown_turns_red_and_negative_once_the_clock_passes_the_deadline(site, browser, shots):
    await site.desk.say(GROUP, customer, "Сервер недоступен")  # premium: 15 minutes
    page = await site.signed_in(browser)
    countdown = page.locator('tr[data-key="ACME-1"] .countdown')
    await expect(countdown).to_have_class(re.compile(r"\bband-warn\b"), timeout=WAIT)
    site.desk.clock.advance(timedelta(minutes=5))
    await expect(countdown).to_have_class(re.compile(r"\bband-hot\b"), timeout=WAIT)
    site.desk.clock.advance(timedelta(minutes=10, seconds=30))
    await expect(countdown).to_have_text(re.compile(r"^−0:00:\d\d$"), timeout=WAIT)
    await expect(countdown).to_have_class(re.compile(r"\bband-breached\b"), timeout=WAIT)
    color = await countdown.evaluate("el => getComputedStyle(el).color")
    assert color == "rgb(201, 42, 42)"  # the breached red
    await page.screenshot(path=shots / "countdown-breached.png", full_page=True)


async def test_the_wallboard_shows_the_key_but_not_the_message_text(site, browser, shots):
    await site.desk.say(GROUP, customer, "Сервер недоступен, пароль от админки qwerty")
    link = await site.link(lead, "/wallboard")
    ctx = await browser.new_context(viewport={"width": 1920, "height": 1080})
    page = await ctx.new_page()
    await page.goto(link)
    await expect(page.locator('tr[data-key="ACME-1"]')).to_contain_text("ACME", timeout=WAIT)
    await page.evaluate("window.sameDocument = true")
    await site.desk.say(GROUP, customer_2, "/new Ещё одна беда")  # a second incident shows up live
    await expect(page.locator("tr.incident")).to_have_count(2, timeout=WAIT)
    body = await page.locator("body").inner_text()
    for secret in ("Сервер недоступен", "qwerty", "Ещё одна беда", "Acme Corporation", customer["first_name"]):
        assert secret not in body, secret
    assert await page.evaluate("window.sameDocument === true")
    await page.screenshot(path=shots / "wallboard.png", full_page=True)
    await site.desk.say(LEAD, lead, "/wallboard_revoke")
    await expect(page.locator("#notice h2")).to_contain_text("switched off", timeout=WAIT)  # the page reloads


async def test_a_removed_engineers_session_stops_working(site, browser, shots):
    page = await site.signed_in(browser)
    await site.desk.say(LEAD, lead, f"/staff_remove {ENGINEER}")
    # The page's next refresh is refused; it reloads into the sign-in notice.
    await expect(page.locator("#notice h2")).to_have_text("Sign in to the desk page", timeout=WAIT)
    response = await page.goto(site.url + "/desk")
    assert response.status == 401
    await page.screenshot(path=shots / "removed-engineer.png", full_page=True)


async def test_without_javascript_the_page_is_a_static_snapshot(site, browser, shots):
    await site.desk.say(GROUP, customer, "Сервер недоступен")
    site.desk.clock.advance(timedelta(minutes=20))
    page = await site.signed_in(browser, java_script_enabled=False)
    row = page.locator('tr[data-key="ACME-1"]')
    await expect(row.locator(".countdown")).to_have_text("−0:05:00")
    await expect(row).to_have_class(re.compile(r"\bband-breached\b"))
    await expect(page.locator(".live-note")).to_be_hidden()  # it does not say "updates itself"
    await page.click('a[href="/desk/incident/ACME-1"]')
    await expect(page.locator(".timeline")).to_contain_text("Сервер недоступен")
    await page.screenshot(path=shots / "no-javascript.png", full_page=True)


async def test_the_page_at_a_glance_on_a_desk_and_a_phone(site, browser, shots):
    """A busy Monday afternoon: one incident past its deadline, one near it, one answered, an 8x5 one
    waiting for Monday morning's hours; the day shift covered, the night a gap. The README's picture."""
    desk = site.desk
    now = desk.clock.now()
    await Rotation.create(shift="day", mode="daily", members=[ENGINEER], anchor=date(2026, 3, 1), updated_at=now)
    await people.register_staff(ARCHITECT, "architect", LEAD, now)
    await people.seen(ARCHITECT, "arch_vera", "Vera Lim", now)
    await customers.add_customer("BETA", "24x7", "Beta Bank", now)
    await customers.bind_by_code("BETA", "telegram", str(OTHER_GROUP), "Beta", "supergroup", LEAD, now)
    desk.stub.chat(OTHER_GROUP, "Beta")
    await customers.add_customer("GAMMA", "8x5", "Gamma Retail", now)
    await customers.bind_by_code("GAMMA", "telegram", str(-100700), "Gamma", "supergroup", LEAD, now)
    desk.stub.chat(-100700, "Gamma")
    desk.clock.set(datetime(2026, 2, 27, 18, 50, tzinfo=MSK))  # Friday evening, 10 min before closing
    await desk.say(-100700, customer, "Подскажите, как настроить выгрузку")
    desk.clock.set(datetime(2026, 3, 1, 12, 0, tzinfo=MSK))
    await desk.say(GROUP, customer, "Не работает вход в личный кабинет")
    await desk.say(ENGINEER, boris, "/take ACME-1")
    desk.clock.set(datetime(2026, 3, 2, 8, 40, tzinfo=MSK))
    await desk.say(OTHER_GROUP, customer, "Ошибка при проведении платежей")
    desk.clock.set(datetime(2026, 3, 2, 9, 10, tzinfo=MSK))
    await desk.say(GROUP, customer, "/new Сервер недоступен")
    desk.clock.set(datetime(2026, 3, 2, 9, 32, tzinfo=MSK))
    page = await site.signed_in(browser, viewport={"width": 1280, "height": 900})
    await expect(page.locator("tr.incident")).to_have_count(4, timeout=WAIT)
    await expect(page.locator('tr[data-key="ACME-2"] .countdown')).to_have_class(re.compile("band-breached"))
    await expect(page.locator('tr[data-key="BETA-1"] .countdown')).to_have_class(re.compile("band-hot"))
    await expect(page.locator('tr[data-key="GAMMA-1"] .paused')).to_contain_text("business hours")
    await expect(page.locator("section.oncall")).to_contain_text("Boris Orlov")
    await page.screenshot(path=shots / "desk.png", full_page=True)
    phone = await site.signed_in(browser, viewport={"width": 390, "height": 844}, is_mobile=True)
    await expect(phone.locator('tr[data-key="ACME-2"]')).to_be_visible(timeout=WAIT)
    assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    assert await phone.locator("thead").is_hidden()  # each incident a block of labelled lines
    await phone.screenshot(path=shots / "desk-phone.png", full_page=True)
