"""A stand-in for eXpress's BotX API (the CTS server's side of a bot), for tests.

It records every call the bot makes, checks each is signed as BotX checks it (a JWT signed with the bot's
secret key, naming the bot as issuer and the CTS host as audience; or, for bots on the old scheme, the
token it hands out), answers a sent message with a `sync_id` at once and then, as BotX does, calls the
bot's `/express/notification/callback` with the result. It also plays the CTS server calling the bot:
`command(...)` posts a user's message as eXpress sends it (the JSON of BotX API v4), signed.

Chats the stand-in is told are gone answer with BotX's `chat_not_found` callback; `fail_next` makes the
next sends answer with an HTTP status instead; `hold_results` keeps the callbacks until `release()`. Chat
info (`/api/v3/botx/chats/info`) names the chats in `chat_names` (others: `chat_not_found`), or answers
`info_status` when set.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from aiohttp import web

HOST = "127.0.0.1"


@dataclass
class Call:
    method: str
    path: str
    json: Any
    authorized: bool
    at: float = field(default_factory=time.monotonic)


class StandInBotX:
    def __init__(self, bot_id: str, secret_key: str) -> None:
        self.bot_id, self.secret_key = bot_id, secret_key
        self.calls: list[Call] = []
        self.callbacks: list[tuple[dict, int]] = []  # what was posted to the bot, and its answer's status
        self.gone_chats: set[str] = set()
        self.fail_next: list[int] = []  # HTTP statuses for the next sends
        self.bot_url: str | None = None  # where the bot listens (its WEB_PUBLIC_URL)
        self.hold_results = False  # keep the callbacks in `held` until `release()`
        self.held: list[dict] = []
        self.chat_names: dict[str, str] = {}  # chat id -> its name, as chat info gives it
        self.info_status: int | None = None  # chat info answers this HTTP status instead
        self.token = "legacy-token-" + uuid.uuid4().hex
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task] = set()
        self.url = ""

    # ---- the server ----

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v2/botx/bots/{bot_id}/token", self._token)
        app.router.add_post("/api/v4/botx/notifications/direct", self._direct)
        app.router.add_get("/api/v3/botx/chats/info", self._chat_info)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://{HOST}:{port}"

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if token == self.token:
            return True
        try:
            jwt.decode(token, self.secret_key, algorithms=["HS256"], issuer=self.bot_id, audience=HOST)
        except jwt.InvalidTokenError:
            return False
        return True

    async def _token(self, request: web.Request) -> web.Response:
        expected = base64.b16encode(hmac.new(self.secret_key.encode(), self.bot_id.encode(),
                                             hashlib.sha256).digest()).decode()
        ok = request.match_info["bot_id"] == self.bot_id and request.query.get("signature") == expected
        self.calls.append(Call("GET", request.path, dict(request.query), ok))
        if not ok:
            return web.json_response({"status": "error", "reason": "bot_not_found", "errors": [],
                                      "error_data": {}}, status=401)
        return web.json_response({"status": "ok", "result": self.token})

    async def _direct(self, request: web.Request) -> web.Response:
        body = await request.json()
        authorized = self._authorized(request)
        self.calls.append(Call("POST", request.path, body, authorized))
        if not authorized:
            return web.json_response({"status": "error", "reason": "unauthorized", "errors": [],
                                      "error_data": {}}, status=401)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return web.json_response({"status": "error", "reason": "server_error", "errors": [],
                                      "error_data": {}}, status=status)
        sync_id = str(uuid.uuid4())
        chat = body.get("group_chat_id")
        if chat in self.gone_chats:
            result = {"sync_id": sync_id, "status": "error", "reason": "chat_not_found", "errors": [],
                      "error_data": {"group_chat_id": chat, "error_description": f"Chat with id {chat} not found"}}
        else:
            result = {"sync_id": sync_id, "status": "ok", "result": {}}
        if self.hold_results:
            self.held.append(result)
        else:
            self._spawn(self._call_back(result))  # after this answer, as BotX does
        return web.json_response({"status": "ok", "result": {"sync_id": sync_id}}, status=202)

    async def _chat_info(self, request: web.Request) -> web.Response:
        authorized = self._authorized(request)
        self.calls.append(Call("GET", request.path, dict(request.query), authorized))
        chat = request.query.get("group_chat_id", "")
        if not authorized:
            return web.json_response({"status": "error", "reason": "unauthorized", "errors": [],
                                      "error_data": {}}, status=401)
        if self.info_status is not None:
            return web.json_response({"status": "error", "reason": "server_error", "errors": [],
                                      "error_data": {}}, status=self.info_status)
        if chat not in self.chat_names:
            return web.json_response({"status": "error", "reason": "chat_not_found", "errors": [], "error_data": {
                "group_chat_id": chat, "error_description": f"Chat with id {chat} not found"}}, status=404)
        return web.json_response({"status": "ok", "result": {
            "chat_type": "group_chat", "creator": str(uuid.uuid4()), "description": None, "group_chat_id": chat,
            "inserted_at": "2026-01-12T09:30:00.000000Z", "shared_history": False, "name": self.chat_names[chat],
            "members": [{"admin": False, "user_huid": self.bot_id, "user_kind": "botx"}]}})

    def info_asked(self, chat_id: str | None = None) -> int:
        """How many times the bot asked for a chat's info."""
        return sum(1 for call in self.calls if call.path == "/api/v3/botx/chats/info" and call.authorized
                   and (chat_id is None or call.json.get("group_chat_id") == chat_id))

    def _spawn(self, work) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def release(self) -> None:
        """The held results go to the bot now."""
        for result in self.held:
            self._spawn(self._call_back(result))
        self.held = []

    async def _unknown(self, request: web.Request) -> web.Response:
        self.calls.append(Call(request.method, request.path, None, self._authorized(request)))
        return web.json_response({"status": "error", "reason": "not_found", "errors": [], "error_data": {}},
                                 status=404)

    async def _call_back(self, result: dict) -> None:
        await asyncio.sleep(0.01)  # the answer to the send reaches the bot first (not required: BotX races too)
        if self.bot_url is None:
            return
        try:
            status = await self.post("/express/notification/callback", result)
        except aiohttp.ClientError:  # the bot is gone (killed): BotX would give up too
            status = 0
        self.callbacks.append((result, status))

    # ---- the CTS server calling the bot ----

    def signature(self, secret_key: str | None = None, bot_id: str | None = None, **claims: Any) -> str:
        """A CTS server's token; `claims` replace its own (None leaves one out)."""
        now = int(time.time())
        payload = {"iss": bot_id or self.bot_id, "aud": HOST, "exp": now + 60, "nbf": now, "iat": now,
                   "jti": uuid.uuid4().hex, "version": 2, **claims}
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, secret_key or self.secret_key, algorithm="HS256")

    async def post(self, path: str, payload: dict, token: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {token if token is not None else self.signature()}"}
        async with aiohttp.ClientSession() as session, session.post(self.bot_url + path, json=payload,
                                                                     headers=headers) as answer:
            await answer.read()
            return answer.status

    async def command(self, chat_id: str, user_huid: str, body: str, *, username: str = "Anna Petrova",
                      sync_id: str | None = None, reply_to: str | None = None, data: dict | None = None,
                      source_sync_id: str | None = None, token: str | None = None,
                      attachments: list | None = None, chat_type: str = "group_chat") -> tuple[int, str]:
        """A user's message in a group chat, as eXpress sends it to the bot; returns the answer's status and
        the message's sync_id."""
        payload = message_payload(self.bot_id, chat_id, user_huid, body, username=username, sync_id=sync_id,
                                  reply_to=reply_to, data=data, source_sync_id=source_sync_id,
                                  attachments=attachments, chat_type=chat_type)
        return await self.post("/express/command", payload, token), payload["sync_id"]

    async def chat_created(self, chat_id: str, name: str, creator: str) -> int:
        """`system:chat_created`: a chat made with the bot in it, as eXpress tells the bot."""
        return await self.post("/express/command", {
            "bot_id": self.bot_id, "sync_id": str(uuid.uuid4()), "source_sync_id": None, "proto_version": 4,
            "command": {"body": "system:chat_created", "command_type": "system", "metadata": {}, "data": {
                "chat_type": "group_chat", "creator": creator, "group_chat_id": chat_id, "name": name,
                "members": [{"admin": True, "huid": creator, "name": "Anna Petrova", "user_kind": "cts_user"},
                            {"admin": False, "huid": self.bot_id, "name": "Support", "user_kind": "botx"}]}},
            "attachments": [], "async_files": [], "entities": [],
            "from": {"user_huid": None, "user_udid": None, "group_chat_id": chat_id, "chat_type": "group_chat",
                     "ad_login": None, "ad_domain": None, "username": None, "is_admin": None, "is_creator": None,
                     "manufacturer": None, "device": None, "device_software": None,
                     "device_meta": {"pushes": None, "timezone": None, "permissions": None}, "platform": None,
                     "platform_package_id": None, "app_version": None, "locale": "en", "host": HOST}})

    # ---- what the bot sent ----

    def sent(self, chat_id: str | None = None) -> list[dict]:
        """The messages the bot sent (and BotX accepted), oldest first: each with `body`, `bubbles`."""
        out = []
        for call in self.calls:
            if call.path == "/api/v4/botx/notifications/direct" and call.authorized and \
                    (chat_id is None or call.json.get("group_chat_id") == chat_id):
                notification = call.json.get("notification") or {}
                out.append({"chat": call.json.get("group_chat_id"), "body": notification.get("body", ""),
                            "bubbles": notification.get("bubble") or []})
        return out


def message_payload(bot_id: str, chat_id: str, user_huid: str, body: str, *, username: str = "Anna Petrova",
                    sync_id: str | None = None, reply_to: str | None = None, data: dict | None = None,
                    source_sync_id: str | None = None, attachments: list | None = None,
                    chat_type: str = "group_chat") -> dict:
    """A message from a user in a group chat (or, `chat_type` "chat", their personal chat with the bot), shaped
    as BotX API v4 posts it to a bot's /command."""
    entities = []
    if reply_to is not None:
        entities.append({"type": "reply", "data": {"source_sync_id": reply_to, "sender": user_huid,
                                                   "body": "(the message answered)", "mentions": [],
                                                   "source_chat_name": "Acme support",
                                                   "source_group_chat_id": chat_id}})
    return {
        "sync_id": sync_id or str(uuid.uuid4()),
        "source_sync_id": source_sync_id,
        "command": {"body": body, "command_type": "user", "data": data or {}, "metadata": {}},
        "attachments": attachments or [],
        "async_files": [],
        "entities": entities,
        "from": {
            "user_huid": user_huid, "user_udid": None, "group_chat_id": chat_id, "chat_type": chat_type,
            "ad_login": "apetrova", "ad_domain": "acme.ru", "username": username, "is_admin": False,
            "is_creator": False, "manufacturer": "Google", "device": "Chrome 120", "device_software": "Linux",
            "device_meta": {"pushes": False, "timezone": "Europe/Moscow", "permissions": None},
            "platform": "web", "platform_package_id": None, "app_version": "3.40.0", "locale": "ru",
            "host": HOST,
        },
        "bot_id": bot_id,
        "proto_version": 4,
    }
