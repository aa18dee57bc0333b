"""The review app serving media from the object store: byte ranges, so a player can seek."""

from __future__ import annotations

import os

from aiohttp.test_utils import TestClient, TestServer

from intake.context import build_context
from intake.review.users import add_user
from intake.web import build_app
from store.migrate import upgrade
from tests.conftest import make_settings
from tests.helpers import drain
from tests.test_pipeline import MP4
from tests.web.conftest import PASSWORD, Browserless, deliver


async def test_a_video_in_s3_is_served_whole_or_by_byte_range(
        tmp_path, sqlite_url, moto_s3, s3_bucket):
    ctx = build_context(make_settings(tmp_path, sqlite_url,
                                      **moto_s3.settings(s3_bucket, "intake/blobs")))
    await upgrade(ctx.db)
    client = None
    try:
        await add_user(ctx, "vic", "viewer", PASSWORD, "test")
        video = MP4 + os.urandom(300_000)
        item_id = await deliver(ctx, attachments=[("clip.mp4", video, "video/mp4")])
        await drain(ctx)
        client = TestClient(TestServer(build_app(ctx)))
        await client.start_server()
        browser = Browserless(client)
        await browser.signin("vic")
        [medium] = (await (await browser.get(f"/api/items/{item_id}")).json())["media"]

        async def fetch(ranged: str | None = None):
            response = await browser.get(medium["url"],
                                         headers={"Range": ranged} if ranged else {})
            return response, await response.read()

        whole, body = await fetch()
        assert whole.status == 200 and body == video
        assert whole.headers["Accept-Ranges"] == "bytes"
        for asked, expected, first, last in (
                ("bytes=10-99", video[10:100], 10, 99),
                ("bytes=-100", video[-100:], len(video) - 100, len(video) - 1),
                ("bytes=1000-", video[1000:], 1000, len(video) - 1),
                (f"bytes=5-{len(video) + 50}", video[5:], 5, len(video) - 1)):
            part, body = await fetch(asked)
            assert part.status == 206 and body == expected, asked
            assert part.headers["Content-Range"] == f"bytes {first}-{last}/{len(video)}"
        outside, _ = await fetch(f"bytes={len(video)}-")
        assert outside.status == 416
        assert outside.headers["Content-Range"] == f"bytes */{len(video)}"
    finally:
        if client is not None:
            await client.close()
        await ctx.close()
