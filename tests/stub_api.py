"""A stub Telegram Bot API server (aiohttp) for tests: feeds updates, records calls, answers like Telegram.

Only what the bot uses is implemented. Faults can be queued per method to test retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 999000
TOKEN = f"{BOT_ID}:TEST-token-for-the-stub-server-0123456789"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class StubBotAPI:
    def __init__(self, username: str = "dutydesk_test_bot", can_read_all_group_messages: bool = True) -> None:
        self.username = username
        self.can_read_all = can_read_all_group_messages
        self.calls: list[Call] = []
        self.delivered: list[dict[str, Any]] = []  # messages Telegram accepted (faults excluded)
        self.updates: list[dict[str, Any]] = []
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(100000)
        self.chats: dict[int, dict[str, Any]] = {}
        self.faults: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.forbidden_chats: set[int] = set()
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

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        if method != "getUpdates":
            async with self._changed:
                self.calls.append(Call(method, params))
                self._changed.notify_all()
        if self.outage_until > time.monotonic():
            status, body = self.outage_faults[self.outage_count % len(self.outage_faults)]
            self.outage_count += 1
            if status == 0:
                request.transport.close()
                return web.Response(status=500)
            return web.json_response(body, status=status)
        if method in self.delays:
            await asyncio.sleep(self.delays[method])
        fault = self.faults.get(method)
        if fault:
            status, body = fault.pop(0)
            if status == 0:  # drop the connection
                request.transport.close()
                return web.Response(status=500)
            return web.json_response(body, status=status)
        chat_id = params.get("chat_id")
        if chat_id is not None and int(chat_id) in self.forbidden_chats:
            return web.json_response(
                {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}, status=403
            )
        refused = self._refused_text(method, params)
        if refused:
            return web.json_response({"ok": False, "error_code": 400, "description": f"Bad Request: {refused}"},
                                     status=400)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        result = await handler(params)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _refused_text(method: str, params: dict[str, Any]) -> str | None:
        """Telegram's limits on text, counted as it counts them: UTF-16 code units."""
        def units(text: Any) -> int:
            return len(str(text or "").encode("utf-16-le")) // 2
        if method == "sendMessage" and not str(params.get("text") or "").strip():
            return "message text is empty"
        if method == "sendMessage" and units(params.get("text")) > 4096:
            return "message is too long"
        if method == "sendPhoto" and units(params.get("caption")) > 1024:
            return "message caption is too long"
        return None

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
                if pending or time.monotonic() >= deadline or self.closing:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
            # Confirmed updates are forgotten, as Telegram does.
            self.updates = pending
            limit = int(params.get("limit") or 100)
            return pending[:limit]

    def _sent(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat = self.chats.get(chat_id, {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"})
        message = {"message_id": next(self.message_ids), "date": int(time.time()), "chat": chat,
                   "from": self.bot_user(), **content}
        if params.get("reply_parameters"):
            message["reply_to_message"] = {"message_id": params["reply_parameters"].get("message_id"),
                                           "date": int(time.time()), "chat": chat}
        return message

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._sent(params, text=params.get("text", ""))
        self.delivered.append({**params, "message_id": message["message_id"]})
        return message

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._sent(params, photo=[{"file_id": "sent-photo", "file_unique_id": "p", "width": 1, "height": 1}])

    async def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._sent(params, document={"file_id": "sent-doc", "file_unique_id": "d"})

    async def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._sent(params, text=params.get("text", ""))

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
        message: dict[str, Any] = {"message_id": next(self.message_ids), "date": int(time.time()), "chat": chat,
                                   "from": user}
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

    async def press(self, message: dict[str, Any], user: dict[str, Any], data: str) -> dict[str, Any]:
        query = {"id": str(next(self.message_ids)), "from": user, "chat_instance": "1", "data": data,
                 "message": message}
        await self.feed({"callback_query": query})
        return query

    # ---- inspecting calls -----------------------------------------------------------------------
    def mark(self) -> int:
        return len(self.calls)

    def find(self, method: str, since: int = 0, where: Callable[[dict[str, Any]], bool] | None = None) -> list[Call]:
        return [c for c in self.calls[since:] if c.method == method and (where is None or where(c.params))]

    async def wait_for(self, method: str, where: Callable[[dict[str, Any]], bool] | None = None, *, since: int = 0,
                       timeout: float = 10.0, count: int = 1) -> list[Call]:
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                found = self.find(method, since, where)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recent = [(c.method, c.params.get("chat_id"), str(c.params.get("text", ""))[:80])
                              for c in self.calls[since:]][-15:]
                    raise AssertionError(f"no {count}× {method} within {timeout}s; calls since: {recent}")
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
