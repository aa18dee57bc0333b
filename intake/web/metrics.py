"""GET /metrics: Prometheus text with the queue figures and this process's own measurements;
the same on a listener of its own for processes without the web app."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from intake.context import Context
from intake.ops.exposition import exposition
from intake.web.health import routes as health_routes
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


async def start_metrics_listener(ctx: Context, stack: AsyncExitStack) -> None:
    """/metrics (this process's own figures) and /healthz on INTAKE_METRICS_HOST:PORT, for
    processes without the web app: workers, the IMAP poller, the SMTP listener."""
    async def metrics(_request: web.Request) -> web.Response:
        body = await exposition(ctx, with_database=False)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app[CONTEXT] = ctx
    app.router.add_get("/metrics", metrics)
    app.add_routes(health_routes)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, ctx.settings.metrics_host, ctx.settings.metrics_port)
    await site.start()
    log.info("metrics on http://%s:%s/metrics", ctx.settings.metrics_host,
             ctx.settings.metrics_port)
    stack.push_async_callback(runner.cleanup)
