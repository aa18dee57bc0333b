"""Links found in mail become fetch jobs of the worker; the file is a medium like an attachment
(video details and thumbnail included)."""

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from intake.links.fetcher import LinkFetcher
from intake.media.videos import install_video_details
from store.models import ItemMedia, LinkFetch, Media
from tests.helpers import drain, make_email, send_async, smtp_listener

WETRANSFER = "https://we.tl/t-AbCdEf1234"


async def _deliver(ctx, *raws):
    async with smtp_listener(ctx) as port:
        for raw in raws:
            await send_async(port, raw)
    await drain(ctx)


async def _one(ctx, model, *where):
    async with ctx.db.reader()() as session:
        return await session.scalar(select(model).where(*where))


async def test_same_video_by_attachment_and_by_link_is_one_medium(ctx, providers):
    video = providers.fake.video
    sha = hashlib.sha256(video).hexdigest()
    await _deliver(ctx,
                   make_email(subject="by mail", attachments=[("ours.mp4", video, "video/mp4")]),
                   make_email(subject="by link", body=f"Too big to attach: {WETRANSFER} thanks"))
    fetch = await _one(ctx, LinkFetch)
    assert (fetch.status, fetch.provider, fetch.url) == ("pending", "wetransfer", WETRANSFER)

    assert await LinkFetcher(ctx).drain() == 1

    fetch = await _one(ctx, LinkFetch)
    assert (fetch.status, fetch.size, fetch.reason) == ("fetched", len(video), None)
    async with ctx.db.reader()() as session:
        files = list(await session.scalars(select(Media).where(Media.sha256 == sha)))
        assert len(files) == 1 and files[0].id == fetch.file_media_id
        carriers = await session.scalar(select(func.count(func.distinct(ItemMedia.item_id)))
                                        .where(ItemMedia.media_id == files[0].id))
        link = await session.get(Media, fetch.media_id)
    assert carriers == 2  # the mailed copy and the linked one are the same medium
    assert link.details["fetch"]["status"] == "fetched"
    assert link.details["fetch"]["sha256"] == sha
    assert await ctx.blobs.get_bytes(sha) == video
    assert await LinkFetcher(ctx).drain() == 0  # fetched once, never again
    figures = ctx.metrics.render().decode()
    assert ('intake_link_fetches_total{outcome="fetched",provider="wetransfer",reason=""} 1.0'
            in figures)
    fetched_bytes = {s.labels["provider"]: s.value
                     for family in text_string_to_metric_families(figures)
                     for s in family.samples if s.name == "intake_link_fetched_bytes_total"}
    assert fetched_bytes == {"wetransfer": len(video)}


async def test_failure_is_kept_and_fetch_again_from_the_cli(ctx, providers, tmp_path):
    url = "https://drive.google.com/file/d/PRIVATEFILE1234/view?usp=sharing"
    await _deliver(ctx, make_email(body=f"Here is our video: {url}"))
    await LinkFetcher(ctx).drain()
    fetch = await _one(ctx, LinkFetch)
    assert (fetch.status, fetch.reason) == ("failed", "needs_signin")
    assert fetch.attempts == 1  # a permanent reason is not retried on its own
    assert ('intake_link_fetches_total{outcome="failed",provider="google_drive",'
            'reason="needs_signin"} 1.0') in ctx.metrics.render().decode()
    link = await _one(ctx, Media, Media.id == fetch.media_id)
    assert link.details["fetch"]["reason"] == "needs_signin"

    # The submitter shares it publicly (the fake now serves it); a coordinator fetches again.
    async with ctx.db.writer()() as session, session.begin():
        row = await session.get(LinkFetch, fetch.id)
        row.url = url.replace("PRIVATEFILE1234", "SHAREDFILE12345")
    env = {**os.environ, "INTAKE_DATA_DIR": str(ctx.settings.data_dir),
           "INTAKE_DATABASE_URL": ctx.settings.effective_database_url,
           "PYTHONPATH": os.getcwd()}
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "intake.cli", "media", "fetch", str(fetch.media_id), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await cli.communicate()  # the fakes answer on this loop meanwhile
    assert cli.returncode == 0, err.decode()
    assert "fetched" in out.decode()
    fetch = await _one(ctx, LinkFetch)
    assert (fetch.status, fetch.reason, fetch.size) == ("fetched", None,
                                                        len(providers.fake.video))


async def test_a_fetch_whose_every_attempt_died_fails_instead_of_waiting(ctx, providers):
    await _deliver(ctx, make_email(body="Our video: https://files.example.org/clip.mp4"))
    async with ctx.db.writer()() as session, session.begin():
        row = await session.scalar(select(LinkFetch))
        row.attempts = ctx.settings.link_attempts  # each claim's worker died mid-fetch
    assert await LinkFetcher(ctx).drain() == 0
    fetch = await _one(ctx, LinkFetch)
    assert (fetch.status, fetch.reason) == ("failed", "provider_error")
    assert "never finished" in fetch.error
    assert providers.fake.hits[("files.example.org", "/clip.mp4")] == 0


@pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
                    reason="ffmpeg/ffprobe are not installed (Debian package ffmpeg)")
async def test_a_fetched_video_gets_its_details_and_thumbnail(ctx, providers, tmp_path):
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc=size=96x64:rate=10:duration=2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip)],
                   check=True, timeout=120)
    providers.fake.video = clip.read_bytes()  # what the fake hosts serve from now on
    assert install_video_details(ctx) is not None
    await _deliver(ctx, make_email(body="Our film: https://files.example.org/film.mp4"))
    assert await LinkFetcher(ctx).drain() == 1

    fetch = await _one(ctx, LinkFetch)
    video = await _one(ctx, Media, Media.id == fetch.file_media_id)
    assert fetch.status == "fetched" and video.kind == "video"
    assert video.details["duration"] == pytest.approx(2.0, abs=0.15)
    assert (video.details["width"], video.details["height"]) == (96, 64)
    assert video.details["codec"] == "h264"
    thumbnail = await ctx.blobs.get_bytes(video.details["thumbnail_sha256"])
    assert thumbnail[:3] == b"\xff\xd8\xff"  # a JPEG


async def test_checkpoints_of_fetches_no_longer_pending_are_swept_at_start(ctx, providers):
    await _deliver(ctx, make_email(body="One: https://files.example.org/missing.mp4"),
                   make_email(body="Two: https://files.example.org/two.mp4"))
    async with ctx.db.writer()() as session, session.begin():
        failed, pending = list(await session.scalars(select(LinkFetch).order_by(LinkFetch.id)))
        failed.status, failed.reason = "failed", "not_found"
    spool = ctx.settings.spool_dir / "links"
    spool.mkdir(parents=True, exist_ok=True)
    for fetch_id in (failed.id, pending.id, 99999):  # 99999: a row that is gone
        for suffix in (".part", ".json"):
            (spool / f"resume-{fetch_id}{suffix}").write_bytes(b"{}")
    stop = asyncio.Event()
    stop.set()  # start, sweep, and end at once
    await LinkFetcher(ctx).run(stop)
    assert sorted(p.name for p in spool.glob("resume-*")) == [
        f"resume-{pending.id}.json", f"resume-{pending.id}.part"]
