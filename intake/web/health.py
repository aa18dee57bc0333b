"""Operator endpoints: /healthz says whether the database and the blob store answer."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from intake.web.state import CONTEXT

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    checks = {}
    try:
        async with ctx.db.reader()() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, don't raise: this page exists to say what is wrong
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await ctx.blobs.check()
        checks["blobs"] = "ok"
    except Exception as exc:  # same
        checks["blobs"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return web.json_response({"ok": healthy, **checks}, status=200 if healthy else 503)
