"""Video and audio details with ffprobe (duration, resolution, codec) and a thumbnail (ffmpeg)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from intake.context import Context
from store.blobs import local_path, sha256_file
from store.models import Media
from store.queries import media_of_items

log = logging.getLogger(__name__)

KINDS = ("video", "audio")
PROBE_TIMEOUT = 30.0  # seconds; a sane file takes well under one
THUMBNAIL_TIMEOUT = 60.0
THUMBNAIL_WIDTH = 480
# Demuxers that may read a stored file: audio/video containers only. Playlists and
# concatenation (hls, concat…) are left out: their entries could name other files or URLs.
FORMATS = ("mov,matroska,webm,avi,mpegts,mpeg,mpegvideo,flv,ogg,asf,wav,mp3,aac,flac,amr,"
           "h264,hevc,m4v,caf,aiff,wv")
# Every ffmpeg/ffprobe run reads one local file and nothing else.
_SAFE_INPUT = ("-protocol_whitelist", "file", "-format_whitelist", FORMATS)


@dataclass(frozen=True)
class Tools:
    ffprobe: str
    ffmpeg: str | None  # without it: details, no thumbnail


def find_tools() -> Tools | None:
    ffprobe = shutil.which("ffprobe")
    return Tools(ffprobe, shutil.which("ffmpeg")) if ffprobe else None


class ToolFailed(Exception):
    """ffprobe/ffmpeg ran out of time or refused the file; the message says which."""


async def _run(args: list[str], timeout: float) -> bytes:
    """Run a tool (no shell, no stdin), return its output; ToolFailed on error or timeout."""
    # Its own process group, so a timeout stops whatever it started too.
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        raise ToolFailed(f"{Path(args[0]).name} took over {timeout:.0f} s") from None
    if process.returncode != 0:
        message = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["failed"]
        raise ToolFailed(f"{Path(args[0]).name}: {message[0][:300]}")
    return out


def _number(value: object) -> float | None:
    try:
        number = float(value)  # ffprobe writes numbers as strings
    except (TypeError, ValueError):
        return None
    return number if number == number and number >= 0 else None  # drop NaN


def details_of(probe: dict) -> dict:
    """The details we keep from ffprobe's JSON: duration, resolution, codecs, container."""
    streams = probe.get("streams") or []
    fmt = probe.get("format") or {}
    video, audio = _main_streams(streams)
    details: dict = {"probed": "ffprobe", "container": fmt.get("format_name")}
    duration = _number(fmt.get("duration")) or _number((video or audio or {}).get("duration"))
    if duration is not None:
        details["duration"] = round(duration, 3)
    details.update(_stream_details(video, audio))
    bit_rate = _number(fmt.get("bit_rate"))
    if bit_rate:
        details["bit_rate"] = int(bit_rate)
    return details


def _main_streams(streams: list[dict]) -> tuple[dict | None, dict | None]:
    """The first video stream that is not cover art, and the first audio stream."""
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    return video, audio


def _stream_details(video: dict | None, audio: dict | None) -> dict:
    details: dict = {}
    if video:
        details.update(width=video.get("width"), height=video.get("height"),
                       codec=video.get("codec_name"))
    if audio:
        details["audio_codec"] = audio.get("codec_name")
        details.setdefault("codec", audio.get("codec_name"))  # an audio file's codec
    return details


async def probe(tools: Tools, path: Path) -> dict:
    out = await _run([tools.ffprobe, "-v", "error", "-hide_banner", *_SAFE_INPUT,
                      "-print_format", "json", "-show_format", "-show_streams", f"file:{path}"],
                     PROBE_TIMEOUT)
    return details_of(json.loads(out or b"{}"))


async def thumbnail(tools: Tools, path: Path, duration: float | None, spool: Path) -> Path:
    """A JPEG of one frame (a second in, or a third of a short video) in the spool."""
    spool.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=spool, prefix="thumb-", suffix=".jpg")
    os.close(fd)
    at = min(1.0, duration / 3) if duration else 0.0
    try:
        await _run([tools.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
                    "-threads", "1", *_SAFE_INPUT, "-ss", f"{at:.3f}", "-i", f"file:{path}",
                    "-frames:v", "1", "-vf", f"scale='min({THUMBNAIL_WIDTH},iw)':-2",
                    "-q:v", "4", "-f", "image2", "-c:v", "mjpeg", "-y", f"file:{name}"],
                   THUMBNAIL_TIMEOUT)
        if os.path.getsize(name) == 0:
            raise ToolFailed("ffmpeg wrote no frame")
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _probed(media: Media) -> bool:
    return "probed" in (media.details or {})


def _wants_details(media: Media | None) -> bool:
    return media is not None and media.kind in KINDS and bool(media.sha256) and not _probed(media)


class MediaDescriber:
    """After-process hook: details (and a thumbnail) for an item's new videos and audio."""

    def __init__(self, ctx: Context, tools: Tools, concurrency: int = 1) -> None:
        self.ctx = ctx
        self.tools = tools
        self._slots = asyncio.Semaphore(concurrency)  # ffmpeg is CPU-heavy: few at once

    async def after_process(self, ctx: Context, item_id: int) -> None:
        async with ctx.db.reader()() as session:
            media = [m for _name, _declared, m in (await media_of_items(session, [item_id]))
                     [item_id] if _wants_details(m)]
        for medium in media:
            await self._describe_row(ctx, medium)

    async def after_fetch(self, ctx: Context, media_id: int) -> None:
        """The same for the file behind a link, once the link fetcher has stored it."""
        async with ctx.db.reader()() as session:
            medium = await session.get(Media, media_id)
        if _wants_details(medium):
            await self._describe_row(ctx, medium)

    async def _describe_row(self, ctx: Context, medium: Media) -> None:
        details = await self.describe(medium.sha256, medium.kind)
        async with ctx.db.writer()() as session, session.begin():
            row = await session.get(Media, medium.id)
            if not _probed(row):  # another worker may have described it meanwhile
                # Merged: a channel may have noted details of its own (Telegram's).
                row.details = {**(row.details or {}), **details}

    async def describe(self, sha256: str, kind: str) -> dict:
        """Details of one stored medium; a failure is kept as `probe_error`, not raised."""
        async with self._slots, local_path(self.ctx.blobs, sha256,
                                           self.ctx.settings.spool_dir) as path:
            try:
                details = await probe(self.tools, path)
                if kind == "video" and self.tools.ffmpeg and details.get("width"):
                    details["thumbnail_sha256"] = await self._thumbnail(path, details)
            except (ToolFailed, ValueError, OSError) as exc:
                log.info("no details for %s: %s", sha256, exc)
                return {"probed": "ffprobe", "probe_error": str(exc)[:300]}
        return details

    async def _thumbnail(self, path: Path, details: dict) -> str:
        picture = await thumbnail(self.tools, path, details.get("duration"),
                                  self.ctx.settings.spool_dir)
        sha256 = await asyncio.to_thread(sha256_file, picture)
        await self.ctx.blobs.put_file(picture, sha256)  # moves the file into the store
        return sha256


def install_video_details(ctx: Context, tools: Tools | None = None) -> MediaDescriber | None:
    """Hook video details into processing where ffprobe is installed (None otherwise)."""
    tools = tools or find_tools()
    if tools is None:
        log.info("ffprobe not found: videos get no duration, resolution or thumbnail")
        return None
    describer = MediaDescriber(ctx, tools)
    ctx.after_process.append(describer.after_process)
    ctx.after_fetch.append(describer.after_fetch)
    return describer
