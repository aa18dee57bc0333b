"""Video details from ffprobe and a thumbnail from ffmpeg, on a real (tiny) MP4."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import select

from channels.contract import EMAIL, RawItem
from intake.config import load_settings
from intake.context import build_context
from intake.media import videos
from intake.media.videos import install_video_details
from intake.pipeline.accept import accept
from store.models import Media
from tests.helpers import drain, make_email, send_async, smtp_listener

needs_ffmpeg = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
    reason="ffmpeg/ffprobe are not installed (Debian package ffmpeg)")


@pytest.fixture(scope="module")
def tiny_mp4(tmp_path_factory) -> bytes:
    """One second of 64×48 H.264 video with AAC sound, made here by ffmpeg."""
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed (Debian package ffmpeg)")
    path = tmp_path_factory.mktemp("video") / "tiny.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(path)], check=True, timeout=120)
    return path.read_bytes()


async def _process(ctx, raw: bytes) -> list[Media]:
    async with smtp_listener(ctx) as port:
        await send_async(port, raw)
    await drain(ctx)
    async with ctx.db.reader()() as session:
        return list(await session.scalars(select(Media).order_by(Media.id)))


@needs_ffmpeg
async def test_a_video_gets_duration_resolution_codec_and_a_thumbnail(sctx, tiny_mp4):
    assert install_video_details(sctx) is not None
    raw = make_email(subject="video", attachments=[("clip.mp4", tiny_mp4, "video/mp4")])
    [media] = await _process(sctx, raw)
    details = media.details
    assert media.kind == "video"
    assert details["duration"] == pytest.approx(1.0, abs=0.1)
    assert (details["width"], details["height"], details["codec"]) == (64, 48, "h264")
    assert details["audio_codec"] == "aac" and "mp4" in details["container"]
    thumbnail = await sctx.blobs.get_bytes(details["thumbnail_sha256"])
    assert thumbnail[:3] == b"\xff\xd8\xff"  # a JPEG


@needs_ffmpeg
async def test_a_file_that_only_looks_like_a_video_is_noted_not_fatal(sctx):
    install_video_details(sctx)
    fake = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 2000
    [media] = await _process(sctx, make_email(attachments=[("v.mp4", fake, "video/mp4")]))
    assert media.kind == "video"
    assert "probe_error" in media.details and "thumbnail_sha256" not in media.details


async def test_without_ffprobe_videos_simply_have_no_details(sctx, tiny_mp4, monkeypatch):
    monkeypatch.setattr(videos.shutil, "which", lambda name: None)
    assert install_video_details(sctx) is None and sctx.after_process == []
    [media] = await _process(sctx, make_email(attachments=[("clip.mp4", tiny_mp4, "video/mp4")]))
    assert media.kind == "video" and media.details == {}


@needs_ffmpeg
async def test_a_stuck_tool_is_stopped(tmp_path, monkeypatch):
    slow = tmp_path / "ffprobe"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setattr(videos, "PROBE_TIMEOUT", 0.5)
    with pytest.raises(videos.ToolFailed, match="took over"):
        await videos.probe(videos.Tools(str(slow), None), tmp_path / "x")


def test_only_local_containers_may_be_read():
    # Playlists and concatenation would let a crafted file name other files or URLs.
    allowed = set(videos.FORMATS.split(","))
    assert not allowed & {"hls", "concat", "applehttp", "dash", "image2", "lavfi"}
    assert videos._SAFE_INPUT[:2] == ("-protocol_whitelist", "file")


@needs_ffmpeg
def test_the_cli_processes_with_the_same_hooks_as_the_worker(tmp_path, tiny_mp4, sqlite_url):
    """`intake process` and `intake items reprocess` run the worker's after-verdict hooks:
    a video handled from the command line gets its details too."""
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path / "data"),
           "INTAKE_DATABASE_URL": sqlite_url}

    def intake(*args):
        done = subprocess.run([sys.executable, "-m", "intake.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if "--json" in args else done.stdout

    intake("db", "upgrade")
    _deliver(env, make_email(subject="video", attachments=[("clip.mp4", tiny_mp4,
                                                            "video/mp4")]))
    assert intake("process", "--json") == {"processed": 1}
    [item] = intake("items", "list", "--json")
    shown = intake("items", "show", str(item["id"]), "--json")
    assert shown["media"][0]["details"]["codec"] == "h264"
    assert intake("items", "reprocess", str(item["id"])).startswith(f"item {item['id']}: ")


def _deliver(env: dict, raw: bytes) -> None:
    """One message in, through accept, as the SMTP role would."""
    async def go():
        ctx = build_context(load_settings({}, data_dir=env["INTAKE_DATA_DIR"],
                                          database_url=env["INTAKE_DATABASE_URL"]))
        try:
            await accept(ctx, RawItem("smtp", raw, EMAIL))
        finally:
            await ctx.close()

    asyncio.run(go())
