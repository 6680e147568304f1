"""Fixtures: the stub Bot API server, a database, and an in-process desk driven through the real Dispatcher."""

from __future__ import annotations

import asyncio
import shutil
import socket
from typing import Any

import pytest

from bot.app import build_bot, build_channels, build_dispatcher
from bot.db import close_database, migrate, open_database
from bot.settings import load_settings
from domain import people
from handlers.telegram_channel import Pacer
from scheduler.courier import Courier
from tests import databases
from tests.clock import FrozenClock
from tests.people import LEAD
from tests.stub_api import TOKEN, StubBotAPI


@pytest.fixture
async def stub():
    server = StubBotAPI()
    await server.start()
    yield server
    await server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_env(stub_url: str, database_url: str, **extra: str) -> dict[str, str]:
    return {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": stub_url, "DATABASE_URL": database_url,
            "LEAD_IDS": str(LEAD), "DEFAULT_LANG": "en", "WEB_PORT": str(free_port()), **extra}


@pytest.fixture
async def database_url(tmp_path):
    """An empty database for this test (the real program migrates it at start)."""
    if databases.on_postgres():
        url = await databases.create()
        yield url
        await databases.drop(url)
    else:
        yield f"sqlite://{tmp_path}/desk.sqlite3"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> str:
    """One database migrated by the real migrations; each test starts from a copy of it."""
    if databases.on_postgres():
        async def make() -> str:
            url = await databases.recreate_template()
            await migrate(url)
            return url
        return asyncio.run(make())
    path = tmp_path_factory.mktemp("template") / "desk.sqlite3"
    asyncio.run(migrate(f"sqlite://{path}"))
    return str(path)


@pytest.fixture
async def db(tmp_path, migrated_template):
    """A migrated database for this test, opened for the domain services."""
    if databases.on_postgres():
        url = databases.url_for(databases.TEMPLATE)
        await databases.truncate_all(url)
    else:
        url = f"sqlite://{tmp_path}/desk.sqlite3"
        shutil.copy(migrated_template, url.removeprefix("sqlite://"))
    await open_database(url, apply_migrations=False)
    yield url
    await close_database()


class Desk:
    """The real Dispatcher and Bot, fed one update at a time and awaited, so tests read results at once."""

    def __init__(self, stub: StubBotAPI, settings, clock: FrozenClock) -> None:
        self.stub, self.settings, self.clock = stub, settings, clock
        self.bot = build_bot(settings)
        self.dp = build_dispatcher(settings, clock)
        pacer = Pacer(per_second=float("inf"), private_gap=0, group_gap=0, monotonic=lambda: clock.now().timestamp())
        self.outbox = Courier(build_channels(self.bot, settings, clock, pacer), clock, settings)

    async def feed(self, update: dict[str, Any]) -> None:
        update = {"update_id": next(self.stub.update_ids), **update}
        await self.dp.feed_raw_update(self.bot, update)
        await self.flush()

    async def flush(self) -> None:
        """Send what the outbox holds now, as the running dispatcher would."""
        while await self.outbox.drain_once():
            pass

    async def say(self, chat_id: int, user: dict[str, Any], text: str | None = None, **extra: Any) -> dict[str, Any]:
        """A person writes; returns the Telegram message. Handlers have finished when it returns."""
        extra.setdefault("date", int(self.clock.now().timestamp()))
        message = self.stub.make_message(chat_id, user, text, **extra)
        await self.feed({"message": message})
        return message

    async def press(self, message: dict[str, Any], user: dict[str, Any], data: str) -> None:
        await self.feed({"callback_query": {"id": "cb1", "from": user, "chat_instance": "1", "data": data,
                                            "message": message}})

    def replies(self, chat_id: int, since: int = 0) -> list[str]:
        return [c.params.get("text", "") for c in self.stub.find("sendMessage", since)
                if int(c.params["chat_id"]) == chat_id]

    def last_lang(self, chat_id: int) -> str:
        """The language the bot answers in here: tests run with DEFAULT_LANG=en and English-speaking users
        except the Russian-speaking customer, whose private chat would be in Russian."""
        return "en"

    def last_reply(self, chat_id: int) -> str:
        texts = self.replies(chat_id)
        assert texts, f"no message was sent to {chat_id}"
        return texts[-1]


@pytest.fixture
async def desk(stub, db):
    clock = FrozenClock()
    settings = load_settings(make_env(stub.url, db))
    await people.ensure_leads(settings.lead_ids, clock.now())
    d = Desk(stub, settings, clock)
    yield d
    if d.bot.session._session is not None:  # plain HTTP to the stub: skip aiogram's 250 ms TLS grace
        await d.bot.session._session.close()
