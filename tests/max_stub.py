"""A stand-in for MAX's Bot API (https://dev.max.ru/docs-api), an aiohttp server for tests: serves updates from
a queue by long polling, records calls, answers like MAX where the desk meets it.

* `Authorization: <token>` on every request; another token gets 401 `verify.token`.
* `GET /updates?marker=&limit=&timeout=`: every update has a sequence number; `marker` in the answer is the next
  one expected, and passing a marker marks every update before it as read (as MAX documents). The server keeps
  the unread ones, so a client that asks again with the same marker gets them again.
* `POST /messages?chat_id=` or `?user_id=`: the message as MAX returns it (`{"message": …}`, a `mid` per
  message). MAX lets a bot write to a person only after that person wrote to it: a `user_id` that never wrote
  gets 403 `chat.denied`; a chat in `removed_chats` 403 `chat.denied`; `faults` queue answers per path.
* `POST /uploads?type=image` gives an upload address; a file posted there (multipart `data`) is kept in
  `uploads` under the token it answers with, which a message then attaches as `{"type": "image"}`.
* `POST /answers?callback_id=`, `GET /me`, `GET /chats/{id}` (a chat in `titles`), `GET|POST|DELETE
  /subscriptions`.
* `deliver(update, url, secret)` posts an update to the bot's webhook as MAX does, with `X-Max-Bot-Api-Secret`.

Payloads are MAX's own shapes (the ones `maxapi`'s models read): `message_created` with `message.sender`,
`recipient {chat_id, chat_type}`, `body {mid, seq, text, attachments}`, `link {type: reply, message}`;
`message_callback` with `callback {callback_id, payload, user}`; `bot_added`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "max-test-token-0123456789abcdef"
BOT_USER_ID = 555000


@dataclass
class Call:
    method: str  # "POST /messages"
    query: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    result: dict[str, Any] = field(default_factory=dict)  # what the stand-in answered


def user(user_id: int, first_name: str, last_name: str | None = None, username: str | None = None) -> dict[str, Any]:
    return {"user_id": user_id, "first_name": first_name, "last_name": last_name, "username": username,
            "is_bot": False, "last_activity_time": 1_760_000_000_000,
            "name": f"{first_name} {last_name}" if last_name else first_name}


class StubMaxAPI:
    def __init__(self) -> None:
        self.calls: list[Call] = []  # accepted requests (every /updates too)
        self.refused: list[Call] = []
        self.updates: list[tuple[int, dict[str, Any]]] = []  # (sequence number, update), unread ones
        self.next_seq = 1
        self.read_before = 1  # every update with a lower number has been read
        self.new_update = asyncio.Event()
        self.dialogs: set[int] = set()  # users who wrote to the bot: it may write to them
        self.removed_chats: set[int] = set()
        self.faults: dict[str, list[tuple[int, dict[str, Any]]]] = {}  # "POST /messages" -> [(status, body)]
        self.subscriptions: list[dict[str, Any]] = []
        self.titles: dict[int, str] = {}  # group chats' titles (GET /chats/{id})
        self.uploads: dict[str, bytes] = {}  # image token -> the file uploaded
        self._mids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---- the server -------------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method == "POST" and request.match_info["path"].startswith("upload/"):
            return await self._receive_upload(request)  # the upload server: a multipart body, not JSON
        method = f"{request.method} /{request.match_info['path']}"
        query = dict(request.query)
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = {}
        call = Call(method, query, body)
        if request.headers.get("Authorization") != TOKEN:
            self.refused.append(call)
            return web.json_response({"code": "verify.token", "message": "Invalid access_token"}, status=401)
        queued = self.faults.get(method)
        if queued:
            status, answer = queued.pop(0)
            self.refused.append(call)
            return web.json_response(answer, status=status)
        if request.method == "GET" and re.fullmatch(r"chats/-?\d+", request.match_info["path"]):
            method = "GET /chats/{id}"
            query["chat_id"] = request.match_info["path"].split("/")[1]
            call.method = method
        handler = {
            "GET /me": self._me, "GET /updates": self._updates, "POST /messages": self._send,
            "POST /answers": self._answer, "GET /subscriptions": self._subscriptions,
            "POST /subscriptions": self._subscribe, "DELETE /subscriptions": self._unsubscribe,
            "GET /chats/{id}": self._chat, "POST /uploads": self._upload_url,
        }.get(method)
        if handler is None:
            self.refused.append(call)
            return web.json_response({"code": "not.found", "message": f"{method} is not served"}, status=404)
        status, answer = await handler(query, body)
        call.result = answer
        (self.calls if status == 200 else self.refused).append(call)
        return web.json_response(answer, status=status)

    async def _me(self, query, body) -> tuple[int, dict[str, Any]]:
        return 200, {**user(BOT_USER_ID, "Desk"), "is_bot": True, "username": "desk_bot"}

    async def _updates(self, query, body) -> tuple[int, dict[str, Any]]:
        if "marker" in query:
            self.read_before = max(self.read_before, int(query["marker"]))
            self.updates = [(seq, u) for seq, u in self.updates if seq >= self.read_before]
        limit = int(query.get("limit", 100))
        deadline = time.monotonic() + float(query.get("timeout", 30))
        while not self.updates and time.monotonic() < deadline:
            self.new_update.clear()
            try:
                await asyncio.wait_for(self.new_update.wait(), max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                break
        batch = self.updates[:limit]
        marker = batch[-1][0] + 1 if batch else self.read_before
        return 200, {"updates": [u for _, u in batch], "marker": marker}

    async def _send(self, query, body) -> tuple[int, dict[str, Any]]:
        if "user_id" in query:
            user_id = int(query["user_id"])
            if user_id not in self.dialogs:
                return 403, {"code": "chat.denied", "message": "The bot cannot write to this user first"}
            recipient = {"chat_id": user_id, "chat_type": "dialog", "user_id": user_id}
        elif "chat_id" in query:
            chat_id = int(query["chat_id"])
            if chat_id in self.removed_chats:
                return 403, {"code": "chat.denied", "message": "chat.denied: the bot is not a member of the chat"}
            recipient = {"chat_id": chat_id, "chat_type": "chat", "user_id": None}
        else:
            return 400, {"code": "proto.payload", "message": "chat_id or user_id is required"}
        if len(body.get("text") or "") > 4000:
            return 400, {"code": "proto.payload", "message": "text: size must be between 0 and 4000"}
        mid = f"mid.bot{next(self._mids):012d}"
        message = {"sender": {**user(BOT_USER_ID, "Desk"), "is_bot": True}, "recipient": recipient,
                   "timestamp": int(time.time() * 1000),
                   "body": {"mid": mid, "seq": int(time.time() * 1000), "text": body.get("text"),
                            "attachments": body.get("attachments") or []}}
        if body.get("link"):
            message["link"] = {"type": body["link"]["type"], "chat_id": recipient["chat_id"],
                               "message": {"mid": body["link"]["mid"], "seq": 0, "text": ""}}
        return 200, {"message": message}

    async def _upload_url(self, query, body) -> tuple[int, dict[str, Any]]:
        if query.get("type") != "image":
            return 400, {"code": "proto.payload", "message": "only images are served here"}
        return 200, {"url": f"{self.url}/upload/{next(self._mids)}"}

    async def _receive_upload(self, request: web.Request) -> web.Response:
        """The upload server: takes the multipart `data` file, answers with the image's token."""
        reader = await request.multipart()
        part = await reader.next()
        data = await part.read() if part is not None else b""
        if not data:
            return web.json_response({"code": "upload.empty", "message": "no file"}, status=400)
        token = f"img-{len(self.uploads) + 1}"
        self.uploads[token] = bytes(data)
        return web.json_response({"photos": {"p1": {"token": token}}})

    async def _chat(self, query, body) -> tuple[int, dict[str, Any]]:
        chat_id = int(query["chat_id"])
        if chat_id not in self.titles:
            return 404, {"code": "chat.not.found", "message": f"Chat {chat_id} not found"}
        return 200, {"chat_id": chat_id, "type": "chat", "status": "active", "title": self.titles[chat_id],
                     "last_event_time": int(time.time() * 1000), "participants_count": 3, "is_public": False}

    async def _answer(self, query, body) -> tuple[int, dict[str, Any]]:
        if "callback_id" not in query:
            return 400, {"code": "proto.payload", "message": "callback_id is required"}
        return 200, {"success": True}

    async def _subscriptions(self, query, body) -> tuple[int, dict[str, Any]]:
        return 200, {"subscriptions": self.subscriptions}

    async def _subscribe(self, query, body) -> tuple[int, dict[str, Any]]:
        self.subscriptions = [s for s in self.subscriptions if s["url"] != body.get("url")]
        self.subscriptions.append({"url": body.get("url"), "time": int(time.time() * 1000),
                                   "update_types": body.get("update_types"), "secret": body.get("secret")})
        return 200, {"success": True}

    async def _unsubscribe(self, query, body) -> tuple[int, dict[str, Any]]:
        self.subscriptions = [s for s in self.subscriptions if s["url"] != query.get("url")]
        return 200, {"success": True}

    # ---- what a test does -------------------------------------------------------------------------------
    def feed(self, update: dict[str, Any]) -> dict[str, Any]:
        self.updates.append((self.next_seq, update))
        self.next_seq += 1
        self.new_update.set()
        return update

    @staticmethod
    def message(chat_id: int, sender: dict[str, Any], text: str | None, mid: str, *, reply_to: str | None = None,
                attachments: list[dict[str, Any]] | None = None, chat_type: str = "chat") -> dict[str, Any]:
        now = int(time.time() * 1000)
        message: dict[str, Any] = {
            "sender": sender, "recipient": {"chat_id": chat_id, "chat_type": chat_type, "user_id": None},
            "timestamp": now, "body": {"mid": mid, "seq": now, "text": text, "attachments": attachments or [],
                                       "markup": []}}
        if reply_to is not None:
            message["link"] = {"type": "reply", "chat_id": chat_id,
                               "message": {"mid": reply_to, "seq": now - 1, "text": "", "attachments": []}}
        return {"update_type": "message_created", "timestamp": now, "message": message, "user_locale": "ru"}

    def send(self, chat_id: int, sender: dict[str, Any], text: str | None, **extra: Any) -> dict[str, Any]:
        """A person writes in a chat (a group chat unless `chat_type="dialog"`, which opens their dialog)."""
        mid = extra.pop("mid", None) or f"mid.user{next(self._mids):012d}"
        if extra.get("chat_type") == "dialog":
            self.dialogs.add(sender["user_id"])
        return self.feed(self.message(chat_id, sender, text, mid, **extra))

    def press(self, message: dict[str, Any], sender: dict[str, Any], payload: str,
              callback_id: str | None = None) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return self.feed({"update_type": "message_callback", "timestamp": now, "user_locale": "ru",
                          "callback": {"timestamp": now, "callback_id": callback_id or f"cb{next(self._mids)}",
                                       "payload": payload, "user": sender}, "message": message})

    def bot_added(self, chat_id: int, by: dict[str, Any]) -> dict[str, Any]:
        return self.feed({"update_type": "bot_added", "timestamp": int(time.time() * 1000), "chat_id": chat_id,
                          "user": by, "is_channel": False})

    @staticmethod
    async def deliver(update: dict[str, Any], url: str, secret: str | None) -> tuple[int, str]:
        """Post an update to the bot's webhook as MAX does."""
        headers = {"X-Max-Bot-Api-Secret": secret} if secret is not None else {}
        async with aiohttp.ClientSession() as session, session.post(url, data=json.dumps(update),
                                                                    headers={**headers, "Content-Type":
                                                                             "application/json"}) as response:
            return response.status, await response.text()

    def mark(self) -> int:
        return len(self.calls)

    def sent(self, since: int = 0, where: Callable[[Call], bool] | None = None) -> list[Call]:
        return [c for c in self.calls[since:] if c.method == "POST /messages" and (where is None or where(c))]

    async def wait_sent(self, chat_id: int, contains: str, *, since: int = 0, timeout: float = 30.0) -> Call:
        """The first message the bot sent to this chat (or user) containing `contains`."""
        deadline = time.monotonic() + timeout
        while True:
            for c in self.sent(since):
                to = c.query.get("chat_id") or c.query.get("user_id")
                if to is not None and int(to) == chat_id and contains in (c.body.get("text") or ""):
                    return c
            if time.monotonic() > deadline:
                texts = [(c.query, (c.body.get("text") or "")[:80]) for c in self.sent()]
                raise AssertionError(f"no message to {chat_id} containing {contains!r}; sent: {texts}")
            await asyncio.sleep(0.05)

    async def wait_for(self, method: str, *, since: int = 0, timeout: float = 30.0) -> Call:
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls[since:] if c.method == method]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {method} within {timeout}s")
            await asyncio.sleep(0.05)

    @staticmethod
    def message_of(call: Call) -> dict[str, Any]:
        """The message the stand-in returned for a sent call (to press its buttons, or reply to it)."""
        return call.result["message"]
