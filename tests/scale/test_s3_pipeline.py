"""End to end on the object store: SMTP → accept → worker, with INTAKE_BLOB_URL=s3://bucket/prefix."""

from __future__ import annotations

import hashlib
import os
import socket

from intake.context import build_context
from intake.review.survey import import_briefs
from intake.review.views import items_view
from store.migrate import upgrade
from tests.conftest import make_settings
from tests.helpers import make_email, send_async, wait_for
from tests.scale.procs import child_env, says, serve, terminate
from tests.test_pipeline import MP4, SAMPLE

BIG = 17 << 20  # above the S3 store's multipart threshold


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_smtp_to_worker_with_blobs_in_s3(tmp_path, database_url, moto_s3, s3_bucket):
    settings = make_settings(tmp_path, database_url, **moto_s3.settings(s3_bucket, "intake/blobs"))
    ctx = build_context(settings)
    await upgrade(ctx.db)
    await import_briefs(ctx, SAMPLE)
    port = _free_port()
    data_dir = tmp_path / "serve-data"
    env = child_env(INTAKE_DATABASE_URL=database_url, INTAKE_DATA_DIR=str(data_dir),
                    INTAKE_SMTP_PORT=str(port), **moto_s3.env(s3_bucket, "intake/blobs"))
    log = tmp_path / "serve.log"
    child = serve("smtp,worker", env, log)
    try:
        await wait_for(lambda: _said(log, "intake serving"), timeout=60)
        big = os.urandom(BIG)
        raw = make_email(subject="Brigadas de salud — video", sender="ana@example.org",
                         attachments=[("clip.mp4", MP4, "video/mp4"),
                                      ("long.bin", big, "application/octet-stream")])
        await send_async(port, raw)
        [item] = await wait_for(lambda: _decided(ctx), timeout=120)
        assert item["status"] in ("matched", "unmatched"), item
        stored = {m["sha256"] for m in item["media"]}
        assert stored == {hashlib.sha256(MP4).hexdigest(), hashlib.sha256(big).hexdigest()}
        for sha in stored | {hashlib.sha256(raw).hexdigest()}:  # the raw message too
            assert await ctx.blobs.exists(sha)
        assert await ctx.blobs.get_bytes(hashlib.sha256(MP4).hexdigest()) == MP4
        assert ctx.blobs.key(hashlib.sha256(MP4).hexdigest()).startswith("intake/blobs/")
        assert await terminate(child) == 0, log.read_text()[-3000:]
        # Nothing kept on local disk: no blob folder, no spooled attachment or raw copy left.
        assert not (data_dir / "blobs").exists()
        assert [p for p in (data_dir / "spool").rglob("*") if p.is_file()] == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        await ctx.close()


async def _said(log, text: str) -> bool:  # noqa: ANN001
    return says(log, text)


async def _decided(ctx) -> list[dict] | None:  # noqa: ANN001
    items = await items_view(ctx)
    return items if items and all(i["status"] != "received" for i in items) else None
