"""The WhatsApp webhook: Meta's GET handshake, and its signed POSTs stored via accept."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from channels.contract import Accepted, AcceptMany, RawItem
from channels.whatsapp import MAX_BODY, SIGNATURE_HEADER, receive_webhook, verify_subscription
from intake.context import Context
from intake.pipeline.accept import accept_many
from intake.web.ahead import serve_ahead

PATH = "/whatsapp/webhook"


async def read_capped(request: web.Request, limit: int = MAX_BODY) -> bytes | None:
    """The body, or None as soon as it is over `limit` (the rest is never read)."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    # Meta says how long: one read, no growing buffer. Not for a compressed body (a relay's
    # gzip): aiohttp hands it over inflated, longer than its Content-Length.
    encoding = request.headers.get("Content-Encoding", "identity").lower()
    if length is not None and encoding == "identity":
        try:
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError as short:  # the signature will not match
            return short.partial
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class GroupCommit:
    """accept_many for concurrent webhook POSTs: those arriving while a commit is under way
    are committed together in the next one (a group commit).

    Meta sends one POST per message and waits for each 200, so every POST would cost a
    commit of its own (an fsync on SQLite); under load the commit, not the HTTP, sets the
    pace. An idle webhook commits at once: nothing ever waits for company. A failed commit
    fails every POST in it, each then answered 503 and retried by Meta."""

    def __init__(self, accept_many: AcceptMany) -> None:
        self._accept_many = accept_many
        self._waiting: list[tuple[Sequence[RawItem], asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def __call__(self, raws: Sequence[RawItem]) -> list[Accepted]:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((raws, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="whatsapp-group-commit")
        # A client hanging up cancels only its own future: the commit other POSTs share is
        # the flusher's task, which nobody awaits.
        return await done

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            raws = [raw for group, _ in batch for raw in group]
            try:
                accepted = await self._accept_many(raws)
            except Exception as exc:  # TryLater, Rejected: every POST of the batch hears it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            start = 0
            for group, done in batch:
                if not done.done():
                    done.set_result(accepted[start:start + len(group)])
                start += len(group)


def add_whatsapp_webhook(app: web.Application, ctx: Context) -> None:
    """With INTAKE_WHATSAPP_VERIFY_TOKEN set, answer Meta at /whatsapp/webhook.

    Like Telegram's, served ahead of the browser middlewares: Meta proves itself by the HMAC
    of the body, not by a browser session or a CSRF token, and its bodies may reach 3 MB
    (the app's own cap is 2 MiB)."""
    settings = ctx.settings
    verify = settings.whatsapp_verify_token.get_secret_value()
    if not verify:
        return
    secret = settings.whatsapp_app_secret.get_secret_value()
    store = GroupCommit(lambda raws: accept_many(ctx, raws))

    async def whatsapp_webhook(request: web.Request) -> web.Response:
        if request.method == "GET":
            status, text = verify_subscription(request.query, verify)
            return web.Response(status=status, text=text)
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        body = await read_capped(request)
        if body is None:
            return web.Response(status=413, text=f"body over {MAX_BODY} bytes")
        answer = await receive_webhook(store, secret,
                                       request.headers.get(SIGNATURE_HEADER), body)
        return web.Response(status=answer.status, text=answer.text)

    serve_ahead(app, PATH, whatsapp_webhook)
