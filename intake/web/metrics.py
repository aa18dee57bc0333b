"""GET /metrics: Prometheus text with the queue figures and this process's own measurements."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from intake.ops.metrics import exposition
from intake.web.state import CONTEXT

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    try:
        body = await exposition(request.app[CONTEXT])
    except (SQLAlchemyError, OSError) as exc:
        # A failed scrape is what should page someone; say why in one line.
        log.warning("metrics: database unavailable: %s", exc)
        return web.Response(status=503, text=f"database unavailable: {type(exc).__name__}\n")
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
