"""The web app (aiohttp): review pages, JSON API, media downloads, health."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from intake.config import Settings
from intake.context import Context
from intake.web.health import routes as health_routes
from intake.web.security import Signer, SignInGuard, load_secret, security_headers
from intake.web.state import CONTEXT, PROCESSOR, SIGNER, SIGNIN_LIMIT, TEMPLATES

__all__ = ["CONTEXT", "build_app"]

STATIC = Path(__file__).with_name("static")


def build_app(ctx: Context) -> web.Application:
    from intake.web import admin, api, auth, media, pages
    from intake.web.actions import close_app
    from intake.web.csrf import csrf_middleware
    from intake.web.errors import errors_middleware
    from intake.web.render import make_environment

    # Order matters: the session cookie wraps everything (so error pages keep it), errors
    # become pages inside it, then who is asking, then whether an unsafe request is ours.
    app = web.Application(
        client_max_size=2 * 1024 * 1024,
        middlewares=[*_behind_proxy(ctx.settings), auth.session_middleware, errors_middleware,
                     auth.auth_middleware, csrf_middleware],
    )
    app[CONTEXT] = ctx
    app[SIGNER] = Signer(load_secret(ctx.settings))
    app[SIGNIN_LIMIT] = SignInGuard()
    app[TEMPLATES] = make_environment()
    app[PROCESSOR] = {}
    app.on_response_prepare.append(security_headers)
    app.on_startup.append(_fill_search_text)
    app.on_cleanup.append(close_app)
    __import__("intake.web.telegram", fromlist=["_"]).add_telegram_webhook(app, ctx)
    __import__("intake.web.whatsapp", fromlist=["_"]).add_whatsapp_webhook(app, ctx)  # #16
    for module in (auth, pages, admin, api, media):
        app.add_routes(module.routes)
    app.add_routes(health_routes)
    app.add_routes(__import__("intake.web.metrics", fromlist=["routes"]).routes)  # issue 7
    __import__("intake.web.upload", fromlist=["_"]).add_upload_routes(app)  # issue 14
    app.router.add_static("/static/", STATIC, follow_symlinks=False, append_version=False)
    return app


async def _fill_search_text(app: web.Application) -> None:
    """Briefs written before migration 0006 get their search words (once; then none are left)."""
    from intake.review.search import fill_missing

    await fill_missing(app[CONTEXT].db)


def _behind_proxy(settings: Settings) -> list:
    """With INTAKE_WEB_TRUSTED_PROXIES, the client's address, scheme and host are what the
    proxy forwards (sign-in limits count the real client, cookies know HTTPS), and only the
    proxy may talk to us: anything else gets 400, but the probes of /healthz and /metrics."""
    if not settings.web_trusted_proxies:
        return []
    from aiohttp_remotes import XForwardedStrict

    return [XForwardedStrict([settings.web_trusted_proxies],
                             white_paths=["/healthz", "/metrics"]).middleware]
