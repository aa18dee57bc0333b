"""The JSON API under /api/: the review app's reads and actions, for scripts (bearer tokens)."""

from __future__ import annotations

from aiohttp import web

from intake.review.users import users_list
from intake.review.views import (
    brief_list_view,
    brief_search_view,
    brief_view,
    dashboard_view,
    events_view,
    item_view,
    queue_view,
)
from intake.web.actions import (
    bulk_assign,
    claim_item,
    import_survey,
    receive_upload,
    release_claim,
    requeue_item,
    settle,
)
from intake.web.auth import require_admin, require_reviewer
from intake.web.params import ids, integer, queue_filter
from intake.web.state import CONTEXT, USER
from intake.web.text import t

routes = web.RouteTableDef()
MAX_LIMIT = 500


async def _body(request: web.Request) -> dict:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text=t("error.bad_json")) from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=t("error.bad_json"))
    return data


def _item_id(request: web.Request) -> int:
    return int(request.match_info["id"])


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    user = request[USER]
    return web.json_response({"name": user.name, "role": user.role})


@routes.get("/api/dashboard")
async def dashboard(request: web.Request) -> web.Response:
    return web.json_response(await dashboard_view(request.app[CONTEXT]))


@routes.get("/api/items")
async def items(request: web.Request) -> web.Response:
    """?status=unmatched (default) &channel= &since= &until= &video=yes|no &language= &flag=
    &after=<id> &limit=<n>; the answer's next_after is the cursor of the next page."""
    page = await queue_view(request.app[CONTEXT], queue_filter(request.query),
                            after_id=integer(request.query, "after"),
                            limit=integer(request.query, "limit", 50, MAX_LIMIT) or 50)
    return web.json_response(page)


@routes.get("/api/items/{id:\\d+}")
async def item(request: web.Request) -> web.Response:
    data = await item_view(request.app[CONTEXT], _item_id(request))
    if data is None:
        raise web.HTTPNotFound(text=t("error.no_item", id=_item_id(request)))
    return web.json_response(data)


@routes.post("/api/items/{id:\\d+}/claim")
async def claim(request: web.Request) -> web.Response:
    user = require_reviewer(request)
    ok = await claim_item(request.app[CONTEXT], user, _item_id(request))
    return web.json_response({"claimed": ok}, status=200 if ok else 409)


@routes.post("/api/items/{id:\\d+}/release")
async def release(request: web.Request) -> web.Response:
    user = require_reviewer(request)
    return web.json_response({"released": await release_claim(request.app[CONTEXT], user,
                                                                _item_id(request))})


@routes.post("/api/items/{id:\\d+}/{action:assign|reject|create_brief|create-brief|undo}")
async def action(request: web.Request) -> web.Response:
    """assign {"ref"}, reject {"reason"}, create_brief {"title"?}, undo {}."""
    user = require_reviewer(request)
    name = request.match_info["action"].replace("-", "_")
    body = await _body(request) if request.can_read_body else {}
    values = {k: (str(body[k]) if body.get(k) is not None else None)
              for k in ("ref", "reason", "title")}
    outcome = await settle(request.app[CONTEXT], user, _item_id(request), name, **values)
    return web.json_response(outcome)


@routes.post("/api/items/{id:\\d+}/reprocess")
async def reprocess(request: web.Request) -> web.Response:
    user = require_reviewer(request)
    await requeue_item(request.app, user, _item_id(request))
    return web.json_response({"item_id": _item_id(request), "queued": True}, status=202)


@routes.post("/api/assign")
async def assign_many(request: web.Request) -> web.Response:
    """{"ids": [..], "ref": "HLH-..."}: each item through resolve; skipped ones say why."""
    user = require_reviewer(request)
    body = await _body(request)
    chosen = ids([str(i) for i in body.get("ids") or []])
    if not chosen or not body.get("ref"):
        raise web.HTTPBadRequest(text=t("error.bulk_needs"))
    return web.json_response(await bulk_assign(request.app[CONTEXT], user, chosen,
                                               str(body["ref"])))


@routes.get("/api/briefs")
async def briefs(request: web.Request) -> web.Response:
    """?q= searches code, title, email and response id; else keyset pages by ?after=."""
    ctx, q = request.app[CONTEXT], request.query.get("q", "").strip()[:200]
    if q:
        found = await brief_search_view(ctx, q, limit=100)
        return web.json_response({"briefs": found, "next_after": None, "total": len(found)})
    page = await brief_list_view(ctx, after_id=integer(request.query, "after"),
                                 limit=integer(request.query, "limit", 50, MAX_LIMIT) or 50)
    return web.json_response(page)


@routes.get("/api/briefs/{ref}")
async def brief(request: web.Request) -> web.Response:
    data = await brief_view(request.app[CONTEXT], request.match_info["ref"])
    if data is None:
        raise web.HTTPNotFound(text=t("error.no_brief", ref=request.match_info["ref"]))
    return web.json_response(data)


@routes.post("/api/briefs/import")
async def import_briefs(request: web.Request) -> web.Response:
    """multipart/form-data with "file" (CSV, XLSX or JSON) and optionally "mapping" (JSON)."""
    from intake.review.survey import ImportFailed

    user = require_reviewer(request)
    upload = await receive_upload(request, request.app[CONTEXT].settings.web_upload_max_bytes)
    try:
        report = await import_survey(request.app, user, upload)
    except ImportFailed as exc:
        return web.json_response({"error": str(exc), "errors": exc.errors, "status": 400},
                                 status=400)
    finally:
        upload.remove()
    return web.json_response(report)


@routes.get("/api/events")
async def events(request: web.Request) -> web.Response:
    page = await events_view(request.app[CONTEXT], before_id=integer(request.query, "before"),
                             actor=request.query.get("actor") or None,
                             action=request.query.get("action") or None,
                             limit=integer(request.query, "limit", 100, MAX_LIMIT) or 100)
    return web.json_response(page)


@routes.get("/api/users")
async def users(request: web.Request) -> web.Response:
    require_admin(request)
    return web.json_response(await users_list(request.app[CONTEXT]))
