"""Coordinator pages: dashboard, the unmatched queue, an item and its actions, briefs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web

from intake.review.actions import REJECT_REASONS, UNDOABLE, NotFound, ReviewError
from intake.review.views import (
    brief_list_view,
    brief_search_view,
    brief_view,
    dashboard_view,
    item_view,
    next_item_id,
    queue_view,
)
from intake.web.actions import bulk_assign, release_claim, settle, take_claim
from intake.web.auth import require_reviewer
from intake.web.errors import review_status
from intake.web.params import CHANNELS, FLAGS, filter_query, ids, integer, queue_filter
from intake.web.render import percent, render
from intake.web.state import CONTEXT, USER
from intake.web.text import t

routes = web.RouteTableDef()
PAGE = 50
REF = re.compile(r"^[A-Z0-9-]{1,32}$")
ITEM_ACTIONS = {"assign": "assign", "reject": "reject", "create-brief": "create_brief",
                "undo": "undo"}


@routes.get("/")
async def dashboard(request: web.Request) -> web.Response:
    data = await dashboard_view(request.app[CONTEXT])
    return render(request, "dashboard.html", data=data, channels=CHANNELS)


def _queue_flash(query) -> str | None:  # noqa: ANN001 - a MultiDict
    if query.get("done") != "bulk":
        return None
    ref = query.get("ref", "")
    return t("done.bulk", n=integer(query, "assigned"), skipped=integer(query, "skipped"),
             ref=ref if REF.match(ref) else "?")


@routes.get("/queue")
async def queue(request: web.Request) -> web.Response:
    return await queue_page(request)


async def queue_page(request: web.Request, status: int = 200, error: str | None = None,
                     chosen: tuple[int, ...] = (), ref: str = "") -> web.Response:
    """The queue with the filters of the URL; after a failed bulk assign, with what was
    wrong, the ticks and the code typed kept."""
    filters = queue_filter(request.query)
    after = integer(request.query, "after")
    page = await queue_view(request.app[CONTEXT], filters, after_id=after, limit=PAGE)
    kept = filter_query(request.query)
    next_link = None
    if page["next_after"]:
        next_link = "/queue?" + urlencode({**kept, "after": page["next_after"]})
    here = {**kept, "after": after} if after else kept
    return render(request, "queue.html", status=status, page=page, filters=filters, kept=kept,
                  next_link=next_link, first_link="/queue?" + urlencode(kept) if after else None,
                  channels=CHANNELS, flags=FLAGS, flash=_queue_flash(request.query),
                  error=error, chosen=set(chosen), bulk_ref=ref,
                  bulk_action="/queue/assign" + ("?" + urlencode(here) if here else ""))


@routes.post("/queue/assign")
async def queue_assign(request: web.Request) -> web.StreamResponse:
    user = require_reviewer(request)
    form = await request.post()
    chosen = ids(form.getall("id", []))
    ref = str(form.get("ref", "")).strip()[:100]
    if not chosen or not ref:
        return await queue_page(request, 400, t("error.bulk_needs"), tuple(chosen), ref)
    try:
        result = await bulk_assign(request.app[CONTEXT], user, chosen, ref)
    except ReviewError as exc:  # the code names no brief: said on the queue, ticks kept
        return await queue_page(request, review_status(exc), str(exc), tuple(chosen), ref)
    if not result["assigned"] and result["skipped"]:
        reasons = "; ".join(f"#{s['id']}: {s['reason']}" for s in result["skipped"])
        return await queue_page(request, 409, reasons, tuple(chosen), ref)
    query = {"done": "bulk", "assigned": len(result["assigned"]),
             "skipped": len(result["skipped"]), "ref": result["ref"]}
    raise web.HTTPSeeOther("/queue?" + urlencode(query))


@routes.get("/queue/next")
async def queue_next(request: web.Request) -> web.StreamResponse:
    found = await next_item_id(request.app[CONTEXT], integer(request.query, "after"),
                               request[USER].name)
    raise web.HTTPSeeOther(f"/items/{found}" if found else "/queue?done=empty")


def undo_target(events: list[dict]) -> dict | None:
    """The action an undo would reverse (as intake.review.actions._undo picks it), if any."""
    undone = {e["detail"].get("undid") for e in events if e["action"] == "undo"}
    return next((e for e in events if e["action"] in UNDOABLE and e["id"] not in undone), None)


async def _load_item(request: web.Request, item_id: int) -> tuple[dict, str | None]:
    """The item, after claiming it for a reviewer; and who else holds it, if anyone."""
    ctx, user = request.app[CONTEXT], request[USER]
    item = await item_view(ctx, item_id)
    if item is None:
        raise web.HTTPNotFound(text=t("error.no_item", id=item_id))
    if await take_claim(ctx, user, item):
        if user.can_review and item["status"] in ("unmatched", "failed"):
            until = datetime.now(UTC) + timedelta(minutes=ctx.settings.web_claim_minutes)
            item["claimed_by"], item["claimed_until"] = user.name, until.isoformat()
        return item, None
    item = await item_view(ctx, item_id) or item  # re-read: who holds it, and until when
    return item, item["claimed_by"]


def _item_flash(query, item: dict) -> str | None:  # noqa: ANN001
    done = query.get("done")
    if done not in ("assign", "reject", "create_brief", "undo", "release", "reprocess",
                    "fetch"):
        return None
    return t(f"done.{done}", ref=item["brief_ref"] or "", status=t(f"status.{item['status']}"))


def why_texts(item: dict) -> list[str]:
    """Why the item waits, one sentence per flag that has one; "not sure enough" names the
    rule of the best guess and what stopped it (several briefs of one sender, a near title)."""
    out = []
    for flag in item["flags"]:
        text = _low_confidence(item) if flag == "low_confidence" else t(f"why.{flag}", "")
        if text:
            out.append(text)
    return out


def _low_confidence(item: dict) -> str:
    candidates = item["candidates"]
    if not candidates:
        return t("why.low_confidence")
    top = candidates[0]
    senders = sum(1 for c in candidates if c["rule"] == "sender")
    if top["rule"] == "sender" and senders > 1:
        return t("why.sender_several", n=senders)
    if top["rule"] == "title":
        return t("why.title_weak", confidence=percent(top["confidence"]))
    return t("why.low_confidence_rule", rule=t(f"rule.{top['rule']}", top["rule"]),
             confidence=percent(top["confidence"]))


async def item_page(request: web.Request, item_id: int, status: int = 200,
                    error: str | None = None) -> web.Response:
    item, held_by = await _load_item(request, item_id)
    q = request.query.get("q", "").strip()[:200]
    results = await brief_search_view(request.app[CONTEXT], q) if q else []
    return render(request, "item.html", status=status, item=item, held_by=held_by, q=q,
                  results=results, undo=undo_target(item["events"]), reasons=REJECT_REASONS,
                  why=why_texts(item),
                  flash=_item_flash(request.query, item), error=error)


@routes.get("/items/{id:\\d+}")
async def item(request: web.Request) -> web.Response:
    return await item_page(request, int(request.match_info["id"]))


@routes.post("/items/{id:\\d+}/{action:assign|reject|create-brief|undo}")
async def item_action(request: web.Request) -> web.StreamResponse:
    user = require_reviewer(request)
    item_id, action = int(request.match_info["id"]), ITEM_ACTIONS[request.match_info["action"]]
    form = await request.post()
    values = {k: (str(form[k]).strip() or None) if k in form else None
              for k in ("ref", "reason", "title")}
    try:
        await settle(request.app[CONTEXT], user, item_id, action, **values)
    except NotFound:
        raise
    except ReviewError as exc:  # shown on the item page itself, beside the form
        return await item_page(request, item_id, status=review_status(exc), error=str(exc))
    raise web.HTTPSeeOther(f"/items/{item_id}?done={action}")


@routes.post("/items/{id:\\d+}/media/{media:\\d+}/fetch")
async def item_fetch_link(request: web.Request) -> web.StreamResponse:
    """Fetch a link again (issue #13): back in the queue, a worker takes it up shortly."""
    from intake.links.fetcher import LinkFetcher

    user = require_reviewer(request)
    item_id, media_id = int(request.match_info["id"]), int(request.match_info["media"])
    try:
        await LinkFetcher(request.app[CONTEXT]).request_again(media_id, user.name)
    except NotFound:
        raise
    except ReviewError as exc:
        return await item_page(request, item_id, status=review_status(exc), error=str(exc))
    raise web.HTTPSeeOther(f"/items/{item_id}?done=fetch")


@routes.post("/items/{id:\\d+}/release")
async def item_release(request: web.Request) -> web.StreamResponse:
    user = require_reviewer(request)
    item_id = int(request.match_info["id"])
    await release_claim(request.app[CONTEXT], user, item_id)
    raise web.HTTPSeeOther("/queue")


@routes.get("/briefs")
async def briefs(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    q = request.query.get("q", "").strip()[:200]
    if q:
        found = await brief_search_view(ctx, q, limit=100)
        page = {"briefs": found, "next_after": None, "total": len(found)}
    else:
        page = await brief_list_view(ctx, after_id=integer(request.query, "after"), limit=PAGE)
    return render(request, "briefs.html", page=page, q=q)


def _brief_media(items: list[dict]) -> list[dict]:
    """Every medium of the brief's items, once each, with the item it came with."""
    seen, out = set(), []
    for item in items:
        for media in item["media"]:
            key = media["sha256"] or media["url"]
            if key not in seen:
                seen.add(key)
                out.append({**media, "item_id": item["id"]})
    return out


@routes.get("/briefs/{ref}")
async def brief(request: web.Request) -> web.Response:
    data = await brief_view(request.app[CONTEXT], request.match_info["ref"])
    if data is None:
        raise web.HTTPNotFound(text=t("error.no_brief", ref=request.match_info["ref"]))
    from intake.web.upload import brief_links  # issue 14: the brief's private upload links

    return render(request, "brief.html", brief=data, media=_brief_media(data["items"]),
                  upload_links=await brief_links(request, data["id"]))
