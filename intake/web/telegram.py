"""The Telegram webhook: Telegram's POSTs, checked by their secret header, stored via accept."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from channels.telegram import SECRET_HEADER, bot_id_of, receive_webhook
from intake.context import Context
from intake.pipeline.accept import accept
from intake.web.ahead import serve_ahead

DEFAULT_PATH = "/telegram/webhook"


def webhook_path(url: str) -> str:
    """The path Telegram posts to: the one in INTAKE_TELEGRAM_WEBHOOK_URL (a proxy keeps it)."""
    return urlsplit(url).path or DEFAULT_PATH


def add_telegram_webhook(app: web.Application, ctx: Context) -> None:
    """In webhook mode, answer Telegram's POSTs ahead of the browser middlewares.

    Sign-in and CSRF protect people's browser sessions; Telegram has neither and proves
    itself with the secret-token header instead, so its one path is served ahead of them
    (intake.web.ahead). Without webhook settings nothing is added."""
    settings = ctx.settings
    token = settings.telegram_token.get_secret_value()
    if not (token and settings.telegram_webhook_url):
        return
    path = webhook_path(settings.telegram_webhook_url)
    bot_id, secret = bot_id_of(token), settings.telegram_webhook_secret.get_secret_value()

    async def telegram_webhook(request: web.Request) -> web.Response:
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        status = await receive_webhook(lambda raw: accept(ctx, raw), bot_id, secret,
                                       request.headers.get(SECRET_HEADER), await request.read())
        return web.Response(status=status)

    serve_ahead(app, path, telegram_webhook)
