"""Media downloads: /media/<sha256> from the blob store, with Range, inline only when safe."""

from __future__ import annotations

import re
from urllib.parse import quote

from aiohttp import web

from intake.review.views import media_view
from intake.web.render import playable
from intake.web.state import CONTEXT
from intake.web.text import t
from store.blobs import FileBlobStore

routes = web.RouteTableDef()
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 256 * 1024


def disposition(kind: str, filename: str) -> str:
    """RFC 6266/8187: an ASCII fallback name and the real one percent-encoded."""
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", filename).strip() or "download"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def media_headers(info: dict) -> dict[str, str]:
    inline = playable(info) is not None
    mime = info["mime"] if inline else (info["mime"] or "application/octet-stream")
    filename = info["filename"] or info["sha256"][:16]
    return {
        "Content-Type": mime,
        # Anything a browser would not just play or show is saved, never rendered.
        "Content-Disposition": disposition("inline" if inline else "attachment", filename),
        "X-Content-Type-Options": "nosniff",
    }


@routes.get("/media/{sha256}")
async def media(request: web.Request) -> web.StreamResponse:
    info = await _known(request)
    return await _serve(request, info["sha256"], info, media_headers(info))


@routes.get("/media/{sha256}/thumbnail")
async def thumbnail(request: web.Request) -> web.StreamResponse:
    """A video's still (JPEG, made by ffmpeg when the video was stored)."""
    ctx = request.app[CONTEXT]
    info = await _known(request)
    still = info["thumbnail_sha256"]
    if not still or not SHA256.match(still) or not await ctx.blobs.exists(still):
        raise web.HTTPNotFound(text=t("error.no_media"))
    headers = {"Content-Type": "image/jpeg", "X-Content-Type-Options": "nosniff",
               "Cache-Control": "private, max-age=86400"}
    return await _serve(request, still, {"size": None}, headers)


async def _known(request: web.Request) -> dict:
    """The stored medium the path names, or 404."""
    sha256 = request.match_info["sha256"]
    if not SHA256.match(sha256):
        raise web.HTTPNotFound(text=t("error.no_media"))
    ctx = request.app[CONTEXT]
    info = await media_view(ctx, sha256)
    if info is None or not await ctx.blobs.exists(sha256):
        raise web.HTTPNotFound(text=t("error.no_media"))
    return info


async def _serve(request: web.Request, sha256: str, info: dict,
                 headers: dict[str, str]) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    if isinstance(ctx.blobs, FileBlobStore):
        # Blobs are named by hash with no suffix, so FileResponse's "<file>.gz sibling"
        # substitution can never pick up another file; it serves Range, ETag and sendfile.
        return web.FileResponse(ctx.blobs.path(sha256), chunk_size=CHUNK, headers=headers)
    return await _stream(request, ctx.blobs, sha256, info, headers)


async def _stream(request: web.Request, blobs, sha256: str, info: dict,  # noqa: ANN001
                  headers: dict[str, str]) -> web.StreamResponse:
    """Other blob stores (S3): streamed, whole or one byte range (a player seeking)."""
    size = info["size"]
    if size is None:  # unknown length: the whole blob, and say that ranges are not served
        response = web.StreamResponse(headers={**headers, "Accept-Ranges": "none"})
        chunks = blobs.stream(sha256)
    else:
        span = _range(request, size)
        response = web.StreamResponse(headers={**headers, "Accept-Ranges": "bytes"})
        if span is None:
            response.content_length = size
            chunks = blobs.stream(sha256)
        else:
            first, last = span
            response.set_status(206)
            response.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            response.content_length = last - first + 1
            chunks = blobs.stream_range(sha256, first, last)
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


def _range(request: web.Request, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, inclusive; None for the whole; 416 if it is outside."""
    try:
        wanted = request.http_range  # aiohttp's parse: "a-b" → slice(a, b+1), "-n" → (-n,)
    except ValueError:  # not a range we read (several ranges, other units): the whole
        return None
    if wanted.start is None and wanted.stop is None:
        return None
    if wanted.start is not None and wanted.start < 0:
        first, last = max(0, size + wanted.start), size - 1
    else:
        first = wanted.start or 0
        last = min(size - 1, wanted.stop - 1 if wanted.stop is not None else size - 1)
    if first >= size or first > last:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return first, last
