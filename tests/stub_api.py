"""A stub Telegram Bot API server (aiohttp) for tests: feeds updates, records calls, answers like Telegram.

Only what the bot uses is implemented, but where Telegram refuses a request the stub refuses it the same way
(status, description and `parameters`), so a test can see the product cope:

* 400 "message is too long" (text over 4096 characters, caption over 1024), "message to be replied not found"
  (reply_parameters naming a message that is not in that chat, unless allow_sending_without_reply),
  "query is too old ..." (answerCallbackQuery for a query in `old_queries`), "chat not found" (`missing_chats`);
* 403 blocked (`forbidden_chats`), kicked (`kicked_chats`), "can't initiate conversation" (`unstarted_chats`:
  opt-in per private chat, cleared when that person writes to the bot);
* 429 with `retry_after` when `enforce_limits` is on: 30 messages a second overall, per private chat 1 a
  second with a burst of `PRIVATE_BURST`, 20 a minute per group;
* message ids counted per chat, as Telegram does.

`calls` holds what Telegram accepted (and every getUpdates), `refused` what it answered with an error (queued
`faults` and outages included), `arrived` every request as it came in, before it was answered. Faults can be
queued per method to test retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 999000
TOKEN = f"{BOT_ID}:TEST-token-for-the-stub-server-0123456789"


TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PER_SECOND = 30  # messages a second overall
PRIVATE_BURST = 3  # a private chat may take this many at once, then 1 a second
PER_GROUP_MINUTE = 20
SENDING = {"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "copyMessage", "forwardMessage"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)
    status: int = 200  # for a refused call: the HTTP status (0 = connection dropped)
    description: str = ""


class Refusal(Exception):  # Telegram's answer, raised out of a method
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> Refusal:
    return Refusal(400, f"Bad Request: {description}")


def forbidden(description: str) -> Refusal:
    return Refusal(403, f"Forbidden: {description}")


def _visible_length(text: str, parse_mode: str | None) -> int:
    """Telegram counts the text after parsing its entities (markup does not count), in UTF-16 code units
    (an emoji outside the basic plane counts twice)."""
    if parse_mode and parse_mode.upper() == "HTML":
        text = re.sub(r"<[^>]+>", "", text)
        text = re.sub(r"&(lt|gt|amp|quot|#\d+);", "x", text)
    return len(text.encode("utf-16-le")) // 2


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class StubBotAPI:
    def __init__(self, username: str = "dutydesk_test_bot", can_read_all_group_messages: bool = True,
                 enforce_limits: bool = False, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.username = username
        self.can_read_all = can_read_all_group_messages
        self.calls: list[Call] = []  # accepted by "Telegram" (and every getUpdates)
        self.refused: list[Call] = []  # answered with an error: what Telegram did not take
        self.arrived: list[Call] = []  # every request as it came in, before its answer
        self.delivered: list[dict[str, Any]] = []  # messages Telegram accepted (faults excluded)
        self.updates: list[dict[str, Any]] = []
        self.update_ids = itertools.count(1)
        self.batch_cap: int | None = None  # hand out at most this many updates a getUpdates (a burst in many batches)
        self.holding = False  # updates are queued but not handed out (`hold`): a burst arrives as whole batches
        self.message_ids = itertools.count(100000)  # callback query ids; message ids are per chat
        self.next_message_id: dict[int, int] = {}
        self.messages: dict[int, set[int]] = {}  # the message ids that exist in each chat
        self.chats: dict[int, dict[str, Any]] = {}
        self.faults: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.forbidden_chats: set[int] = set()  # 403 the bot was blocked by the user
        self.kicked_chats: set[int] = set()  # 403 the bot was kicked from the group
        self.unstarted_chats: set[int] = set()  # 403 can't initiate conversation, until the person writes
        self.missing_chats: set[int] = set()  # 400 chat not found
        self.old_queries: set[str] = set()  # 400 query is too old
        self.enforce_limits = enforce_limits  # 429 beyond Telegram's published limits
        self.monotonic = monotonic
        self._sent_at: deque[float] = deque()  # accepted messages of the last second, all chats
        self._group_sent_at: dict[int, deque[float]] = {}
        self._private_tokens: dict[int, tuple[float, float]] = {}  # chat: (tokens left, when counted)
        self.delays: dict[str, float] = {}  # seconds a method takes to answer
        self.outage_until = 0.0  # until then every method fails with the faults below, in turn
        self.outage_faults: list[tuple[int, dict[str, Any]]] = []
        self.outage_count = 0
        self.admin_in: set[int] = set()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.closing = False
        self.url = ""

    # ---- server ---------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self.closing = True
        async with self._changed:
            self._changed.notify_all()  # release long polls still waiting
        if self._runner:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return await request.json()
        form = await request.post()
        params: dict[str, Any] = {k: _decode(v) for k, v in form.items() if isinstance(v, str)}
        params["files"] = {k: v.file.read() for k, v in form.items() if not isinstance(v, str)}
        return params

    async def _record(self, into: list[Call], call: Call) -> None:
        async with self._changed:
            into.append(call)
            self._changed.notify_all()

    async def _refuse(self, request: web.Request, call: Call, status: int, body: dict[str, Any]) -> web.Response:
        call.status, call.description = status, str(body.get("description", "connection dropped"))
        await self._record(self.refused, call)
        if status == 0:  # drop the connection
            request.transport.close()
            return web.Response(status=500)
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params)
        if method != "getUpdates":
            await self._record(self.arrived, call)
        if self.outage_until > time.monotonic():
            status, body = self.outage_faults[self.outage_count % len(self.outage_faults)]
            self.outage_count += 1
            return await self._refuse(request, call, status, body)
        if method in self.delays:
            await asyncio.sleep(self.delays[method])
        fault = self.faults.get(method)
        if fault:
            status, body = fault.pop(0)
            return await self._refuse(request, call, status, body)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return await self._refuse(request, call, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
        try:
            self._check(method, params)
            result = await handler(params)
        except Refusal as refusal:
            return await self._refuse(request, call, refusal.status, refusal.body())
        if method != "getUpdates":
            await self._record(self.calls, call)
        return web.json_response({"ok": True, "result": result})

    # ---- Telegram's refusals --------------------------------------------------------------------
    def _check(self, method: str, params: dict[str, Any]) -> None:
        """Refuse the request as Telegram would, or return and let it through (counting it for the limits)."""
        chat_id = params.get("chat_id")
        if chat_id is not None:
            chat_id = int(chat_id)
            if chat_id in self.missing_chats:
                raise bad_request("chat not found")
            if chat_id in self.forbidden_chats:
                raise forbidden("bot was blocked by the user")
            if chat_id in self.kicked_chats:
                kind = self.chats.get(chat_id, {}).get("type", "supergroup")
                raise forbidden(f"bot was kicked from the {'supergroup' if kind == 'supergroup' else 'group'} chat")
            if chat_id in self.unstarted_chats:
                raise forbidden("bot can't initiate conversation with a user")
        if method == "sendMessage" and not str(params.get("text") or "").strip():
            raise bad_request("message text is empty")
        if method in ("sendMessage", "editMessageText") and \
                _visible_length(str(params.get("text", "")), params.get("parse_mode")) > TEXT_LIMIT:
            raise bad_request("message is too long")
        if "caption" in params and \
                _visible_length(str(params.get("caption") or ""), params.get("parse_mode")) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and reply.get("message_id") is not None and chat_id is not None:
            target = int(reply.get("chat_id") or chat_id)
            if int(reply["message_id"]) not in self.messages.get(target, set()) \
                    and not reply.get("allow_sending_without_reply"):
                raise bad_request("message to be replied not found")
        if method == "answerCallbackQuery" and str(params.get("callback_query_id")) in self.old_queries:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if method in SENDING and chat_id is not None and self.enforce_limits:
            self._take_slot(chat_id)

    def _take_slot(self, chat_id: int) -> None:
        """Telegram's published limits; the answer says how long to wait, rounded up to whole seconds."""
        now = self.monotonic()
        overall = self._sent_at
        while overall and overall[0] <= now - 1:
            overall.popleft()
        waits = []
        if len(overall) >= PER_SECOND:
            waits.append(overall[-PER_SECOND] + 1 - now)
        if chat_id > 0:  # a private chat: a token bucket, PRIVATE_BURST deep, refilled at one a second
            tokens, since = self._private_tokens.get(chat_id, (float(PRIVATE_BURST), now))
            tokens = min(float(PRIVATE_BURST), tokens + (now - since))
            if tokens < 1:
                waits.append(1 - tokens)
        else:  # a group: a sliding minute
            mine = self._group_sent_at.setdefault(chat_id, deque())
            while mine and mine[0] <= now - 60:
                mine.popleft()
            if len(mine) >= PER_GROUP_MINUTE:
                waits.append(mine[-PER_GROUP_MINUTE] + 60 - now)
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            raise Refusal(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        overall.append(now)
        if chat_id > 0:
            self._private_tokens[chat_id] = (tokens - 1, now)
        else:
            mine.append(now)

    # ---- methods --------------------------------------------------------------------------------
    def bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "DutyDesk", "username": self.username}

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self.bot_user(), "can_join_groups": True, "can_read_all_group_messages": self.can_read_all,
                "supports_inline_queries": False}

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        async with self._changed:
            self.calls.append(Call("getUpdates", params))
            self._changed.notify_all()
            while True:
                pending = [u for u in self.updates if u["update_id"] >= offset]
                if (pending and not self.holding) or time.monotonic() >= deadline or self.closing:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
            # Confirmed updates are forgotten, as Telegram does.
            self.updates = pending
            if self.holding:
                return []
            limit = min(int(params.get("limit") or 100), self.batch_cap or 100)
            return pending[:limit]

    async def hold(self, holding: bool) -> None:
        """Queue updates without handing them out (True), then hand out what queued (False): a burst then
        reaches the bot in full batches however fast the bot and the test are."""
        async with self._changed:
            self.holding = holding
            self._changed.notify_all()

    def new_message_id(self, chat_id: int) -> int:
        """The next message id in this chat: every chat counts its own, as in Telegram."""
        message_id = self.next_message_id.get(chat_id, 1)
        self.next_message_id[chat_id] = message_id + 1
        self.messages.setdefault(chat_id, set()).add(message_id)
        return message_id

    def _chat_of(self, chat_id: int) -> dict[str, Any]:
        return self.chats.get(chat_id, {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"})

    def _sent(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat = self._chat_of(chat_id)
        message = {"message_id": self.new_message_id(chat_id), "date": int(time.time()), "chat": chat,
                   "from": self.bot_user(), **content}
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
        reply = params.get("reply_parameters")
        if reply and int(reply.get("message_id", 0)) in self.messages.get(chat_id, set()):
            message["reply_to_message"] = {"message_id": reply.get("message_id"), "date": int(time.time()),
                                           "chat": chat}
        return message

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._sent(params, text=params.get("text", ""))
        self.delivered.append({**params, "message_id": message["message_id"]})
        return message

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._sent(params, photo=[{"file_id": "sent-photo", "file_unique_id": "p", "width": 1, "height": 1}])

    async def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._sent(params, document={"file_id": "sent-doc", "file_unique_id": "d"})

    async def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        if message_id not in self.messages.get(chat_id, set()):
            raise bad_request("message to edit not found")
        return {"message_id": message_id, "date": int(time.time()), "edit_date": int(time.time()),
                "chat": self._chat_of(chat_id), "from": self.bot_user(), "text": params.get("text", "")}

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        status = "administrator" if chat_id in self.admin_in else "member"
        member = {"status": status, "user": self.bot_user()}
        if status == "administrator":
            member.update({k: True for k in ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                                              "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                                              "can_change_info", "can_invite_users", "can_post_stories",
                                              "can_edit_stories", "can_delete_stories")})
        return member

    # ---- feeding updates ------------------------------------------------------------------------
    async def feed(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self.update_ids), **update}
        async with self._changed:
            self.updates.append(update)
            self._changed.notify_all()
        return update

    def chat(self, chat_id: int, title: str = "", kind: str | None = None, forum: bool = False) -> dict[str, Any]:
        kind = kind or ("private" if chat_id > 0 else "supergroup")
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = title or f"user{chat_id}"
        else:
            chat["title"] = title or f"group{chat_id}"
        if forum:
            chat["is_forum"] = True
        self.chats[chat_id] = chat
        return chat

    @staticmethod
    def user(user_id: int, username: str | None = None, lang: str = "en") -> dict[str, Any]:
        user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": lang}
        if username:
            user["username"] = username
        return user

    def make_message(self, chat_id: int, user: dict[str, Any], text: str | None = None, **extra: Any) -> dict[str, Any]:
        chat = self.chats.get(chat_id) or self.chat(chat_id)
        if chat_id > 0:
            self.unstarted_chats.discard(chat_id)  # the person wrote to the bot: it may answer now
        message: dict[str, Any] = {"message_id": self.new_message_id(chat_id), "date": int(time.time()),
                                   "chat": chat, "from": user}
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        message.update(extra)
        return message

    async def send(self, chat_id: int, user: dict[str, Any], text: str | None = None, **extra: Any) -> dict[str, Any]:
        """A person writes; returns the message as Telegram delivered it."""
        message = self.make_message(chat_id, user, text, **extra)
        await self.feed({"message": message})
        return message

    def callback_query(self, message: dict[str, Any], user: dict[str, Any], data: str,
                       old: bool = False) -> dict[str, Any]:
        """A button press; `old` makes Telegram refuse its answer as too late (the press waited too long)."""
        query = {"id": str(next(self.message_ids)), "from": user, "chat_instance": "1", "data": data,
                 "message": message}
        if old:
            self.old_queries.add(query["id"])
        return query

    async def press(self, message: dict[str, Any], user: dict[str, Any], data: str,
                    old: bool = False) -> dict[str, Any]:
        query = self.callback_query(message, user, data, old)
        await self.feed({"callback_query": query})
        return query

    # ---- inspecting calls -----------------------------------------------------------------------
    def _among(self, among: str) -> list[Call]:
        return {"calls": self.calls, "refused": self.refused, "arrived": self.arrived}[among]

    def mark(self, among: str = "calls") -> int:
        return len(self._among(among))

    def find(self, method: str, since: int = 0, where: Callable[[dict[str, Any]], bool] | None = None,
             among: str = "calls") -> list[Call]:
        """Calls of a method: those Telegram accepted, or `among="refused"` / `"arrived"` (all, in flight too)."""
        return [c for c in self._among(among)[since:] if c.method == method and (where is None or where(c.params))]

    async def wait_for(self, method: str, where: Callable[[dict[str, Any]], bool] | None = None, *, since: int = 0,
                       timeout: float = 10.0, count: int = 1, among: str = "calls") -> list[Call]:
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                found = self.find(method, since, where, among)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recent = [(c.method, c.params.get("chat_id"), str(c.params.get("text", ""))[:80])
                              for c in self._among(among)[since:]][-15:]
                    raise AssertionError(f"no {count}× {method} in {among} within {timeout}s; since: {recent}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_text(self, chat_id: int, contains: str, *, since: int = 0, timeout: float = 10.0) -> dict[str, Any]:
        calls = await self.wait_for(
            "sendMessage", lambda p: int(p["chat_id"]) == chat_id and contains in p.get("text", ""),
            since=since, timeout=timeout,
        )
        return calls[0].params


def too_many_requests(retry_after: int) -> tuple[int, dict[str, Any]]:
    return 429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {retry_after}",
                 "parameters": {"retry_after": retry_after}}


SERVER_ERROR = (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
DROP_CONNECTION = (0, {})
