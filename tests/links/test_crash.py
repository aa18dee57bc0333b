"""A worker killed with SIGKILL in the middle of a fetch: after a restart the fetch completes,
once (one file medium, one fetched row), from its last checkpoint, on SQLite and PostgreSQL."""

import hashlib
import signal

from sqlalchemy import func, select

from store.models import LinkFetch, Media
from tests.helpers import drain, make_email, send_async, smtp_listener, wait_for
from tests.links.providers import proxy_env
from tests.scale.procs import child_env, kill, serve

URL = "https://files.example.org/crash.mp4"


async def test_sigkill_during_a_fetch_then_restart_fetches_once(ctx, providers, tmp_path):
    async with smtp_listener(ctx) as port:
        await send_async(port, make_email(body=f"Our video: {URL}"))
    await drain(ctx)  # the link is queued; the worker processes below fetch it
    providers.fake.stall_once.add("/crash.mp4")
    env = child_env(INTAKE_DATA_DIR=str(ctx.settings.data_dir),
                    INTAKE_DATABASE_URL=ctx.settings.effective_database_url,
                    INTAKE_LINK_CHECKPOINT_BYTES=str(1 << 20), **proxy_env(providers))
    log = tmp_path / "worker.log"
    first = serve("worker", env, log)
    try:
        spool = ctx.settings.spool_dir / "links"

        async def checkpointed():  # half the file is out, its first MiB durable in the spool
            return providers.fake.stalled and list(spool.glob("resume-*.json"))
        await wait_for(checkpointed, timeout=120)
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = serve("worker", env, log)
        try:
            async def fetched():
                async with ctx.db.reader()() as session:
                    row = await session.scalar(select(LinkFetch))
                return row if row.status == "fetched" else None
            row = await wait_for(fetched, timeout=120)
        finally:
            kill([second])
    finally:
        kill([first])
    sha = hashlib.sha256(providers.fake.video).hexdigest()
    async with ctx.db.reader()() as session:
        files = await session.scalar(select(func.count()).select_from(Media)
                                     .where(Media.sha256 == sha))
        rows = await session.scalar(select(func.count()).select_from(LinkFetch))
    assert (files, rows) == (1, 1)
    assert row.attempts == 2 and row.size == len(providers.fake.video)
    assert providers.fake.hits[("files.example.org", "/crash.mp4")] == 2
    ranges = [h.get("Range") for _host, path, h in providers.fake.headers if path == "/crash.mp4"]
    assert ranges[0] is None and ranges[1].startswith("bytes=")  # resumed, not started over
    assert int(ranges[1].removeprefix("bytes=").removesuffix("-")) >= 1 << 20
    assert await ctx.blobs.get_bytes(sha) == providers.fake.video
    assert not list(spool.glob("link-*")) and not list(spool.glob("resume-*")), \
        "the killed fetcher's partial file became the blob; nothing is left behind"
