"""The upload page's HTTP side (issue 14): /u/<token>, /upload and the tus endpoint /tus/."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from aiohttp import web

from intake.upload import sweep
from intake.upload.links import LinkSigner, brief_of_token, link_url, new_link, revoke
from intake.upload.service import GB, BodyCut, Uploads
from intake.upload.texts import TEXTS, pick_language
from intake.upload.tus import (
    CHECKSUMS,
    EXTENSIONS,
    OFFSET_TYPE,
    VERSION,
    Checksum,
    TusError,
    expires_header,
    parse_length,
    parse_metadata,
)
from intake.web.auth import require_reviewer
from intake.web.security import load_secret
from intake.web.state import CONTEXT, TEMPLATES
from store.models import Brief, Upload
from store.uploads import brief_id_by_ref, live_links

UPLOADS = web.AppKey("uploads", Uploads)
SWEEPER = web.AppKey("upload_sweeper", asyncio.Task)
SWEEP_STOP = web.AppKey("upload_sweep_stop", asyncio.Event)
PUBLIC = ("/u/", "/upload", "/tus/")  # reachable without signing in (see auth.PUBLIC)
READ_CHUNK = 256 * 1024

routes = web.RouteTableDef()


def plain(status: int, message: str, headers: dict | None = None) -> web.Response:
    """Errors of these pages: a plain sentence, nothing of the review app around it."""
    return web.Response(status=status, text=message + "\n", headers={
        "Tus-Resumable": VERSION, "Cache-Control": "no-store", **(headers or {})})


@web.middleware
async def tus_errors(request: web.Request, handler):  # noqa: ANN001, ANN201
    try:
        response = await handler(request)
    except TusError as exc:
        return plain(exc.status, exc.message, exc.headers)
    if request.path.startswith("/tus/"):
        response.headers["Tus-Resumable"] = VERSION
    return response


def _uploads(request: web.Request) -> Uploads:
    return request.app[UPLOADS]


def _check_version(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != VERSION:
        raise TusError(412, f"Tus-Resumable {VERSION} is required.", {"Tus-Version": VERSION})


def _upload_headers(upload: Upload) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload.offset), "Cache-Control": "no-store"}
    if upload.status == "open":
        headers["Upload-Expires"] = expires_header(upload.expires_at)
    return headers


# -- tus -----------------------------------------------------------------------------------


@routes.options("/tus/")
@routes.options("/tus/{upload_id}")
async def tus_options(request: web.Request) -> web.Response:
    settings = request.app[CONTEXT].settings
    return web.Response(status=204, headers={
        "Tus-Version": VERSION, "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(settings.upload_max_bytes),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUMS)})


@routes.post("/tus/")
async def tus_create(request: web.Request) -> web.Response:
    _check_version(request)
    if "Upload-Defer-Length" in request.headers:
        raise TusError(400, "Upload-Defer-Length is not supported; send Upload-Length.")
    length = parse_length(request.headers.get("Upload-Length"), "Upload-Length")
    meta = parse_metadata(request.headers.get("Upload-Metadata"))
    uploads = _uploads(request)
    upload = await uploads.create(length, meta, request.remote or "-")
    headers = {"Location": f"/tus/{upload.id}", **_upload_headers(upload)}
    if request.content_type == OFFSET_TYPE and request.can_read_body:  # creation-with-upload
        upload = await uploads.write(upload.id, 0, _body(request), _checksum(request))
        headers.update(_upload_headers(upload))
    return web.Response(status=201, headers=headers)


@routes.head("/tus/{upload_id}")
async def tus_head(request: web.Request) -> web.Response:
    _check_version(request)
    upload = await _uploads(request).get(request.match_info["upload_id"])
    return web.Response(status=200, headers={
        "Upload-Length": str(upload.length), **_upload_headers(upload)})


@routes.patch("/tus/{upload_id}")
async def tus_patch(request: web.Request) -> web.Response:
    _check_version(request)
    if request.content_type != OFFSET_TYPE:
        raise TusError(415, f"Content-Type must be {OFFSET_TYPE}.")
    offset = parse_length(request.headers.get("Upload-Offset"), "Upload-Offset")
    upload = await _uploads(request).write(request.match_info["upload_id"], offset,
                                           _body(request), _checksum(request))
    return web.Response(status=204, headers=_upload_headers(upload))


@routes.delete("/tus/{upload_id}")
async def tus_delete(request: web.Request) -> web.Response:
    _check_version(request)
    await _uploads(request).terminate(request.match_info["upload_id"])
    return web.Response(status=204)


def _checksum(request: web.Request) -> Checksum | None:
    header = request.headers.get("Upload-Checksum")
    return Checksum(header) if header else None


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    """The PATCH body as it arrives; a connection cut inside it is BodyCut."""
    try:
        while chunk := await request.content.read(READ_CHUNK):
            yield chunk
    except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
        raise BodyCut(str(exc)) from exc
    except Exception as exc:  # aiohttp's payload errors (truncated body, bad chunking)
        if type(exc).__module__.startswith("aiohttp"):
            raise BodyCut(str(exc)) from exc
        raise


# -- pages ---------------------------------------------------------------------------------


def _page(request: web.Request, brief: Brief | None, token: str | None) -> web.Response:
    ctx = request.app[CONTEXT]
    lang = pick_language(request.headers.get("Accept-Language"), request.query.get("lang"))
    texts = TEXTS[lang]
    html = request.app[TEMPLATES].get_template("upload.html").render(
        lang=lang, texts=texts, ref=brief.ref if brief else None, token=token or "",
        texts_json=json.dumps(texts, ensure_ascii=False), prefix=ctx.settings.ref_prefix,
        max_bytes=ctx.settings.upload_max_bytes,
        max_text=f"{ctx.settings.upload_max_bytes / GB:.1f} GB")
    return web.Response(text=html, content_type="text/html", headers={
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@routes.get("/upload")
async def general_page(request: web.Request) -> web.Response:
    return _page(request, None, None)


@routes.get("/u/{token}")
async def link_page(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    found = await brief_of_token(ctx, request.app[UPLOADS].signer, request.match_info["token"])
    if found is None:
        return plain(404, "This upload link is not valid or has expired. Please ask the "
                          "person who sent it to you for a new one.")
    async with ctx.db.reader()() as session:
        brief = await session.get(Brief, found[1])
    if brief is None:
        return plain(404, "This upload link is not valid or has expired.")
    return _page(request, brief, request.match_info["token"])


# -- the review app's side: the brief page's links (signed-in coordinators only) -----------


async def brief_links(request: web.Request, brief_id: int) -> list[dict]:
    """The brief's live private links, with their URLs (the token is derived, not kept)."""
    ctx = request.app[CONTEXT]
    async with ctx.db.reader()() as session:
        links = await live_links(session, brief_id)
    signer = request.app[UPLOADS].signer
    return [{"id": link.id, "url": link_url(ctx, signer.token(link.id)) if
             ctx.settings.web_base_url else f"/u/{signer.token(link.id)}",
             "expires_at": link.expires_at} for link in links]


async def _brief_id(request: web.Request) -> int:
    async with request.app[CONTEXT].db.reader()() as session:
        brief_id = await brief_id_by_ref(session, request.match_info["ref"])
    if brief_id is None:
        raise web.HTTPNotFound(text="No such brief.")
    return brief_id


@routes.post("/briefs/{ref}/upload-links")
async def make_link(request: web.Request) -> web.Response:
    user = require_reviewer(request)
    await new_link(request.app[CONTEXT], request.app[UPLOADS].signer,
                   await _brief_id(request), user.name)
    raise web.HTTPSeeOther(f"/briefs/{request.match_info['ref']}#upload-links")


@routes.post("/briefs/{ref}/upload-links/{link_id}/revoke")
async def revoke_link(request: web.Request) -> web.Response:
    user = require_reviewer(request)
    await revoke(request.app[CONTEXT], await _brief_id(request), user.name,
                 request.match_info["link_id"])
    raise web.HTTPSeeOther(f"/briefs/{request.match_info['ref']}#upload-links")


# -- wiring --------------------------------------------------------------------------------


async def _start_sweeper(app: web.Application) -> None:
    app[SWEEP_STOP] = asyncio.Event()
    app[SWEEPER] = asyncio.create_task(sweep.run(app[UPLOADS], app[SWEEP_STOP]),
                                       name="upload-sweeper")


async def _stop_sweeper(app: web.Application) -> None:
    if SWEEPER in app:
        app[SWEEP_STOP].set()
        await app[SWEEPER]


def add_upload_routes(app: web.Application) -> None:
    """Routes, the service and its housekeeping; called by build_app."""
    ctx = app[CONTEXT]
    app[UPLOADS] = Uploads(ctx, LinkSigner(load_secret(ctx.settings)))
    app.middlewares.append(tus_errors)
    app.on_startup.append(_start_sweeper)
    app.on_cleanup.append(_stop_sweeper)
    app.add_routes(routes)
