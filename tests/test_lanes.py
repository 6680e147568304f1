"""How a batch of updates is split into lanes handled side by side (bot.app.lanes_of)."""

import asyncio

from aiogram.types import Update

from bot.app import Poller, lanes_of
from scheduler.jobs import Heartbeat
from tests.clock import FrozenClock
from tests.stub_api import StubBotAPI

stub = StubBotAPI()
LEAD, ALICE, BOB = StubBotAPI.user(1001), StubBotAPI.user(2001), StubBotAPI.user(2002)
GROUP_A, GROUP_B, GROUP_C = -1001, -1002, -1003


def message(update_id: int, chat: int, user: dict, text: str = "hello") -> Update:
    return Update.model_validate({"update_id": update_id, "message": stub.make_message(chat, user, text)})


def ids(lanes: list[list[Update]]) -> list[list[int]]:
    return sorted([u.update_id for u in lane] for lane in lanes)


def test_one_chat_stays_in_order_in_one_lane():
    batch = [message(1, GROUP_A, ALICE), message(2, GROUP_A, BOB), message(3, GROUP_A, ALICE)]
    assert ids(lanes_of(batch)) == [[1, 2, 3]]


def test_unrelated_chats_get_lanes_of_their_own():
    batch = [message(1, GROUP_A, ALICE), message(2, GROUP_B, BOB), message(3, GROUP_A, ALICE)]
    assert ids(lanes_of(batch)) == [[1, 3], [2]]


def test_one_person_in_two_chats_stays_in_order():
    # A lead creates a customer in private, then binds a group: the bind must see the customer.
    batch = [message(1, LEAD["id"], LEAD, "/customer_add ACME 8x5 Acme"), message(2, GROUP_A, LEAD, "/bind ACME"),
             message(3, GROUP_B, BOB)]
    assert ids(lanes_of(batch)) == [[1, 2], [3]]


def test_lanes_join_through_a_person_who_links_them():
    # Alice writes in A, Bob in B, then Bob in A: all three are one lane, in the batch's order.
    batch = [message(1, GROUP_A, ALICE), message(2, GROUP_B, BOB), message(3, GROUP_A, BOB),
             message(4, GROUP_C, StubBotAPI.user(2003))]
    assert ids(lanes_of(batch)) == [[1, 2, 3], [4]]


def test_a_button_press_joins_its_chat():
    shown = stub.make_message(GROUP_A, StubBotAPI.user(999000), "ACME-1 is registered")
    press = Update.model_validate({"update_id": 2, "callback_query": {
        "id": "q", "from": BOB, "chat_instance": "1", "data": "x", "message": shown}})
    assert ids(lanes_of([message(1, GROUP_A, ALICE), press])) == [[1, 2]]


def test_anonymous_admins_of_different_groups_do_not_share_a_lane():
    # Every anonymous admin writes through one bot account (GroupAnonymousBot): the group is the author.
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}

    def as_group(update_id: int, chat: int) -> Update:
        raw = stub.make_message(chat, anonymous, "down", sender_chat=stub.chats.get(chat) or stub.chat(chat))
        return Update.model_validate({"update_id": update_id, "message": raw})

    assert ids(lanes_of([as_group(1, GROUP_A), as_group(2, GROUP_B), as_group(3, GROUP_A)])) == [[1, 3], [2]]


def test_an_update_without_chat_or_person_is_a_lane_of_its_own():
    unknown = Update.model_validate({"update_id": 5})  # a kind of update this aiogram does not know
    assert ids(lanes_of([unknown, message(6, GROUP_A, ALICE)])) == [[5], [6]]


class DatabaseAwayOnce:
    """A dispatcher whose first attempt fails, as when the database is away."""

    def __init__(self) -> None:
        self.attempts = 0

    async def feed_update(self, bot, update) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise ConnectionError("database away")


async def test_a_failing_update_is_retried_and_reported_until_it_is_handled():
    dp, heartbeat, clock = DatabaseAwayOnce(), Heartbeat(), FrozenClock()
    poller = Poller(None, dp, asyncio.Event(), heartbeat, clock, parking=None, park_after=600)
    handled = asyncio.create_task(poller.handle(message(7, GROUP_A, ALICE)))
    await asyncio.sleep(0.2)
    assert heartbeat.failing == {7: clock.now()}  # /healthz counts from here
    assert await handled is True
    assert dp.attempts == 2 and heartbeat.failing == {}


class Rendezvous:
    """A dispatcher whose update in each chat waits until the other chat's update has started: only lanes
    handled side by side can both finish."""

    def __init__(self, chats: tuple[int, int]) -> None:
        self.started = {chat: asyncio.Event() for chat in chats}
        self.handled: list[int] = []

    def resolve_used_update_types(self) -> list[str]:
        return ["message"]

    async def feed_update(self, bot, update) -> None:
        chat = update.message.chat.id
        self.started[chat].set()
        other = next(c for c in self.started if c != chat)
        await asyncio.wait_for(self.started[other].wait(), 10)  # handled one after the other: never set
        self.handled.append(update.update_id)


class NoParking:
    async def park(self, update: dict, reason: str, error: str) -> None:
        raise AssertionError(f"nothing should be parked: {reason} {error}")


async def test_unrelated_chats_of_one_batch_are_really_handled_side_by_side():
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.app import poll
    from tests.stub_api import TOKEN

    server = StubBotAPI()
    await server.start()
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))
    dp, stopping, heartbeat = Rendezvous((GROUP_A, GROUP_B)), asyncio.Event(), Heartbeat()
    try:
        await server.send(GROUP_A, ALICE, "one")  # update 1
        await server.send(GROUP_B, BOB, "two")  # update 2
        polling = asyncio.create_task(poll(bot, dp, stopping, heartbeat, FrozenClock(), NoParking(), park_after=600,
                                           timeout=1))
        await server.wait_for("getUpdates", lambda p: int(p.get("offset") or 0) == 3, timeout=30)  # batch confirmed
        stopping.set()
        await polling
    finally:
        await bot.session.close()
        await server.stop()
    assert sorted(dp.handled) == [1, 2] and heartbeat.failing == {}
