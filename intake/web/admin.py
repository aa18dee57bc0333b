"""Operator and admin pages: failed items, survey import, the audit log, users."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from aiohttp import web

from intake.review.users import ROLES, Principal, UserError, add_user, change, new_token, users_list
from intake.review.views import events_view, queue_view
from intake.web.actions import (
    drop_pending,
    import_pending,
    pending_file,
    receive_upload,
    requeue_item,
    stage_survey,
)
from intake.web.auth import require_admin, require_reviewer
from intake.web.params import integer, queue_filter
from intake.web.render import render
from intake.web.state import CONTEXT
from intake.web.text import t

routes = web.RouteTableDef()
PAGE = 50


@routes.get("/failed")
async def failed(request: web.Request) -> web.Response:
    after = integer(request.query, "after")
    page = await queue_view(request.app[CONTEXT], queue_filter({}, status="failed"),
                            after_id=after, limit=PAGE)
    started = integer(request.query, "reprocessing") or None
    return render(request, "failed.html", page=page, after=after, started=started,
                  max_attempts=request.app[CONTEXT].settings.max_attempts)


@routes.post("/items/{id:\\d+}/reprocess")
async def reprocess_item(request: web.Request) -> web.StreamResponse:
    user = require_reviewer(request)
    item_id = int(request.match_info["id"])
    await requeue_item(request.app, user, item_id)
    raise web.HTTPSeeOther(f"/failed?reprocessing={item_id}")


@routes.get("/import")
async def import_page(request: web.Request) -> web.Response:
    require_reviewer(request)
    limit = request.app[CONTEXT].settings.web_upload_max_bytes
    return render(request, "import.html", report=None, errors=[], limit=limit, pending=None)


@routes.post("/import")
async def import_upload(request: web.Request) -> web.Response:
    """Step 1: the export is kept and its columns shown, to pick from (import.html)."""
    from intake.review.survey import ImportFailed

    user = require_reviewer(request)
    limit = request.app[CONTEXT].settings.web_upload_max_bytes
    upload = await receive_upload(request, limit)
    try:
        pending = await stage_survey(request.app, user, upload)
    except ImportFailed as exc:
        return render(request, "import.html", status=400, report=None, limit=limit,
                      error=str(exc), errors=exc.errors[:200])
    finally:
        upload.remove()
    return render(request, "import.html", report=None, errors=[], limit=limit, pending=pending)


@routes.post("/import/confirm")
async def import_confirm(request: web.Request) -> web.Response:
    """Step 2: import with the picked columns; on a bad file the picks are shown again."""
    from intake.review.survey import ImportFailed

    user = require_reviewer(request)
    limit = request.app[CONTEXT].settings.web_upload_max_bytes
    form = await request.post()
    token = str(form.get("upload", ""))
    if form.get("cancel"):
        drop_pending(request.app, user, token)
        raise web.HTTPSeeOther("/import")
    try:
        report = await import_pending(request.app, user, token, dict(form))
    except ImportFailed as exc:
        return render(request, "import.html", status=400, report=None, limit=limit,
                      error=str(exc), errors=exc.errors[:200],
                      pending=await _restage(request, user, token, form))
    return render(request, "import.html", report=report, errors=[], limit=limit)


async def _restage(request: web.Request, user: Principal, token: str, form: object
                   ) -> dict | None:
    """The step-2 form again with the user's picks, or None when the upload is gone."""
    from intake.review.survey import ImportFailed, plan, preview

    try:
        path = pending_file(request.app, user, token)
        shown = await asyncio.to_thread(lambda: preview(plan(path, require=False)))
    except ImportFailed:
        return None
    picked = {name: int(v) if (v := str(form.get(name, ""))).isdigit() else None
              for name in ("title", "response_id", "email")}
    return {"token": token, "preview": shown, "picked": picked,
            "mapping": str(form.get("mapping", "{}"))}


@routes.get("/audit")
async def audit(request: web.Request) -> web.Response:
    actor = request.query.get("actor", "").strip()[:100] or None
    action = request.query.get("action", "").strip()[:32] or None
    page = await events_view(request.app[CONTEXT], before_id=integer(request.query, "before"),
                             actor=actor, action=action)
    kept = {k: v for k, v in (("actor", actor), ("action", action)) if v}
    next_link = None
    if page["next_before"]:
        next_link = "/audit?" + urlencode({**kept, "before": page["next_before"]})
    return render(request, "audit.html", page=page, actor=actor or "", action=action or "",
                  next_link=next_link)


async def _users_page(request: web.Request, status: int = 200, **extra: object
                      ) -> web.Response:
    users = await users_list(request.app[CONTEXT])
    extra.setdefault("token", None)
    return render(request, "users.html", status=status, users=users, roles=ROLES, **extra)


@routes.get("/users")
async def users(request: web.Request) -> web.Response:
    require_admin(request)
    return await _users_page(request)


@routes.post("/users")
async def users_add(request: web.Request) -> web.StreamResponse:
    admin = require_admin(request)
    form = await request.post()
    try:
        await add_user(request.app[CONTEXT], str(form.get("name", "")).strip(),
                       str(form.get("role", "")), str(form.get("password", "")), admin.name)
    except UserError as exc:
        return await _users_page(request, status=400, error=str(exc))
    raise web.HTTPSeeOther("/users")


@routes.post("/users/{name}")
async def users_change(request: web.Request) -> web.StreamResponse:
    admin = require_admin(request)
    name, form = request.match_info["name"], await request.post()
    ctx = request.app[CONTEXT]
    operation = str(form.get("op", ""))
    try:
        if operation == "token":
            token = await new_token(ctx, name, admin.name)
            return await _users_page(request, token={"name": name, "value": token})
        changes = {
            "role": {"role": str(form.get("role", ""))},
            "disable": {"disabled": True},
            "enable": {"disabled": False},
            "password": {"password": str(form.get("password", ""))},
        }
        if operation not in changes:
            raise UserError(t("error.bad_param", name="op", label="op"))
        await change(ctx, name, admin.name, **changes[operation])
    except UserError as exc:
        return await _users_page(request, status=400, error=str(exc))
    raise web.HTTPSeeOther("/users")
