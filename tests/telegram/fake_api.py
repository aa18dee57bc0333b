"""A local fake of the Telegram Bot API (aiohttp on 127.0.0.1), for the real PTB client."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

TOKEN = "123456789:TEST-token_for-the-fake-api"
BOT_ID = 123456789
BOT_USERNAME = "intake_test_bot"
DOWNLOAD_LIMIT = 20_000_000
LONG_POLL_CAP = 1.0  # seconds a getUpdates waits at most here, so shutdowns stay quick


@dataclass
class FakeFile:
    file_id: str
    file_unique_id: str
    data: bytes
    size: int  # what getFile reports; may exceed len(data) to stand for a huge file
    path: str


@dataclass
class FakeBotApi:
    """The Bot API methods intake calls, with the state tests assert on."""

    token: str = TOKEN
    updates: list[dict] = field(default_factory=list)
    files: dict[str, FakeFile] = field(default_factory=dict)
    sent: list[dict] = field(default_factory=list)  # sendMessage calls, parameters as sent
    answered: list[dict] = field(default_factory=list)  # answerCallbackQuery calls
    calls: list[str] = field(default_factory=list)  # every method, in order
    webhook: dict | None = None
    confirmed: int = 0  # highest offset a getUpdates has sent: every update below is acked
    throttle: dict[str, int] = field(default_factory=dict)  # method → 429s still to answer
    local_dir: Path | None = None  # set: a --local server (no limit, files on a shared disk)
    _next_update: itertools.count = field(default_factory=lambda: itertools.count(1))
    _next_message: itertools.count = field(default_factory=lambda: itertools.count(1000))
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    _runner: web.AppRunner | None = None

    # -- test side --------------------------------------------------------------------------

    def push(self, update: dict) -> int:
        """Queue an update (an update_id is given if it has none); returns its id."""
        if "update_id" not in update:
            update = {"update_id": next(self._next_update), **update}
        self.updates.append(update)
        self._new.set()
        return update["update_id"]

    def add_file(self, file_unique_id: str, data: bytes, size: int | None = None,
                 name: str = "file.bin") -> FakeFile:
        file_id = f"FID-{file_unique_id}-{len(self.files)}"
        fake = FakeFile(file_id, file_unique_id, data, size if size is not None else len(data),
                        f"documents/{file_unique_id}-{name}")
        self.files[file_id] = fake
        return fake

    def messages_to(self, chat_id: int | str) -> list[dict]:
        return [m for m in self.sent if str(m["chat_id"]) == str(chat_id)]

    async def start(self) -> FakeBotApi:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - port 0 → real port
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._new.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- server side ------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict:
        if request.content_type == "application/json":
            return await request.json()
        params = {}
        for key, value in (await request.post()).items():
            try:
                params[key] = json.loads(value)
            except (TypeError, ValueError):
                params[key] = value
        return params

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        self.calls.append(method)
        try:
            params = await self._params(request)
        except ConnectionResetError:  # the client gave up (a cancelled poll at shutdown)
            return web.Response(status=499)
        if self.throttle.get(method):
            self.throttle[method] -= 1
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429)
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        return await handler(params)

    async def _getMe(self, params: dict) -> web.Response:  # noqa: N802 - Bot API names
        return _ok({"id": BOT_ID, "is_bot": True, "first_name": "Intake test",
                    "username": BOT_USERNAME, "can_join_groups": True,
                    "can_read_all_group_messages": False, "supports_inline_queries": False})

    async def _getUpdates(self, params: dict) -> web.Response:  # noqa: N802
        offset = int(params.get("offset") or 0)
        self.confirmed = max(self.confirmed, offset)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), LONG_POLL_CAP)
        deadline = time.monotonic() + wait
        while not self.updates and time.monotonic() < deadline:
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        return _ok(self.updates[:limit])

    async def _getFile(self, params: dict) -> web.Response:  # noqa: N802
        fake = self.files.get(str(params.get("file_id")))
        if fake is None:
            return _error(400, "Bad Request: invalid file_id")
        path = fake.path
        if self.local_dir is not None:  # hands out a path on its own disk
            local = self.local_dir / fake.path.replace("/", "_")
            local.write_bytes(fake.data)
            path = str(local)
        elif fake.size > DOWNLOAD_LIMIT:
            return _error(400, "Bad Request: file is too big")
        return _ok({"file_id": fake.file_id, "file_unique_id": fake.file_unique_id,
                    "file_size": fake.size, "file_path": path})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        for fake in self.files.values():
            if fake.path == request.match_info["path"]:
                return web.Response(body=fake.data)
        return web.Response(status=404)

    async def _sendMessage(self, params: dict) -> web.Response:  # noqa: N802
        self.sent.append(params)
        chat_id = int(params["chat_id"])
        return _ok({"message_id": next(self._next_message), "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Intake test"},
                    "text": params.get("text", "")})

    async def _answerCallbackQuery(self, params: dict) -> web.Response:  # noqa: N802
        self.answered.append(params)
        return _ok(True)

    async def _setWebhook(self, params: dict) -> web.Response:  # noqa: N802
        self.webhook = params
        return _ok(True)

    async def _deleteWebhook(self, params: dict) -> web.Response:  # noqa: N802
        self.webhook = None
        return _ok(True)


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description},
                             status=code)
