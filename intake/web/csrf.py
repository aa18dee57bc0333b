"""CSRF protection: unsafe requests from a browser session need our token and our Origin."""

from __future__ import annotations

import hmac

from aiohttp import web

from intake.web.security import UNSAFE, origin_ok, submitted_token
from intake.web.state import CONTEXT, SESSION, SIGNER, VIA
from intake.web.text import t


@web.middleware
async def csrf_middleware(request: web.Request, handler):  # noqa: ANN001, ANN201
    # Bearer-token calls carry no ambient credential a third-party page could borrow.
    # tus uploads (issue 14) carry no session either: their capability is the upload URL.
    if request.method in UNSAFE and request.get(VIA) != "token" and (
            not request.path.startswith("/tus/")):
        if not origin_ok(request, request.app[CONTEXT].settings):
            raise web.HTTPForbidden(text=t("error.origin"))
        expected = request.app[SIGNER].csrf_token(request[SESSION])
        if not hmac.compare_digest(await submitted_token(request), expected):
            raise web.HTTPForbidden(text=t("error.csrf"))
    return await handler(request)
