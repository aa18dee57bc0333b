"""The WhatsApp webhook: Meta's GET handshake, and its signed POSTs stored via accept."""

from __future__ import annotations

from aiohttp import web

from channels.whatsapp import MAX_BODY, SIGNATURE_HEADER, receive_webhook, verify_subscription
from intake.context import Context
from intake.pipeline.accept import accept_many

PATH = "/whatsapp/webhook"


async def read_capped(request: web.Request, limit: int = MAX_BODY) -> bytes | None:
    """The body, or None as soon as it is over `limit` (the rest is never read)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def add_whatsapp_webhook(app: web.Application, ctx: Context) -> None:
    """With INTAKE_WHATSAPP_VERIFY_TOKEN set, answer Meta at /whatsapp/webhook.

    Like Telegram's, served by an outermost middleware: Meta proves itself by the HMAC of
    the body, not by a browser session or a CSRF token, and its bodies may reach 3 MB (the
    app's own cap is 2 MiB)."""
    settings = ctx.settings
    verify = settings.whatsapp_verify_token.get_secret_value()
    if not verify:
        return
    secret = settings.whatsapp_app_secret.get_secret_value()

    @web.middleware
    async def whatsapp_webhook(request: web.Request, handler):  # noqa: ANN001, ANN202
        if request.path != PATH:
            return await handler(request)
        if request.method == "GET":
            status, text = verify_subscription(request.query, verify)
            return web.Response(status=status, text=text)
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        body = await read_capped(request)
        if body is None:
            return web.Response(status=413, text=f"body over {MAX_BODY} bytes")
        answer = await receive_webhook(lambda raws: accept_many(ctx, raws), secret,
                                       request.headers.get(SIGNATURE_HEADER), body)
        return web.Response(status=answer.status, text=answer.text)

    app.middlewares.insert(0, whatsapp_webhook)
