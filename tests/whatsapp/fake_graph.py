"""A local fake of Meta's Graph API for WhatsApp (aiohttp on 127.0.0.1), bearer token checked."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field

from aiohttp import web

TOKEN = "EAAG-test-token-for-the-fake-graph"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "+1 555-010-4242"
VERSION = "v21.0"


@dataclass
class FakeMedium:
    media_id: str
    data: bytes
    mime: str
    size: int  # what Graph reports; may exceed len(data) to stand for a huge file


@dataclass
class FakeGraph:
    """The Graph calls intake makes, with the state tests assert on."""

    token: str = TOKEN
    phone_number_id: str = PHONE_NUMBER_ID
    media: dict[str, FakeMedium] = field(default_factory=dict)
    sent: list[dict] = field(default_factory=list)  # POST /<phone id>/messages bodies
    calls: list[str] = field(default_factory=list)  # "METHOD path", in order
    refusals: list[tuple[int, int, str]] = field(default_factory=list)  # next sends: errors
    downloads: int = 0
    url: str = ""
    _next: itertools.count = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return f"{self.url}/{VERSION}"

    # -- test side --------------------------------------------------------------------------

    def add_medium(self, data: bytes, mime: str = "video/mp4", size: int | None = None) -> str:
        media_id = str(900_000 + len(self.media))
        self.media[media_id] = FakeMedium(media_id, data, mime,
                                          size if size is not None else len(data))
        return media_id

    def refuse(self, code: int, message: str = "refused", status: int = 400) -> None:
        """The next send answers this Graph error (e.g. 131047, or 130429 with 429)."""
        self.refusals.append((status, code, message))

    def messages_to(self, wa_id: str) -> list[dict]:
        return [m for m in self.sent if m.get("to") == wa_id]

    async def start(self) -> FakeGraph:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_get("/download/{media_id}", self._download)
        app.router.add_get(f"/{VERSION}/{{node}}", self._node)
        app.router.add_post(f"/{VERSION}/{{node}}/messages", self._messages)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - port 0 → real port
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- server side ------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        self.calls.append(f"{request.method} {request.path}")
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _node(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 190, "Invalid OAuth access token.")
        node = request.match_info["node"]
        if node == self.phone_number_id:
            return web.json_response({"id": node, "display_phone_number": DISPLAY_NUMBER,
                                      "verified_name": "Intake test",
                                      "quality_rating": "GREEN"})
        medium = self.media.get(node)
        if medium is None:
            return _error(400, 100, f"Unsupported get request. Object with ID '{node}'")
        return web.json_response({
            "messaging_product": "whatsapp", "id": node, "mime_type": medium.mime,
            "sha256": hashlib.sha256(medium.data).hexdigest(), "file_size": medium.size,
            "url": f"{self.url}/download/{node}"})

    async def _download(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)  # Meta's CDN answers a bare 401 as well
        medium = self.media.get(request.match_info["media_id"])
        if medium is None:
            return web.Response(status=404)
        self.downloads += 1
        return web.Response(body=medium.data, content_type=medium.mime)

    async def _messages(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 190, "Invalid OAuth access token.")
        if request.match_info["node"] != self.phone_number_id:
            return _error(400, 100, "Unsupported post request.")
        body = await request.json()
        if self.refusals:
            status, code, message = self.refusals.pop(0)
            return _error(status, code, message)
        self.sent.append(body)
        if body.get("status") == "read":
            return web.json_response({"success": True})
        return web.json_response({
            "messaging_product": "whatsapp",
            "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
            "messages": [{"id": f"wamid.OUT{next(self._next):06d}"}]})


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "OAuthException",
                                        "code": code, "error_data": {
                                            "messaging_product": "whatsapp",
                                            "details": message},
                                        "fbtrace_id": "AbCdEfGh"}}, status=status)
