"""The upload page in a real browser (Debian's Chromium): a private link, a 300 MB file, the
server killed mid-way and restarted; the page resumes and finishes, sha256 unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.upload.analyse import install
from intake.upload.links import new_link, signer_for
from store.models import Item, ItemMedia, Media, Upload
from tests.helpers import drain, wait_for
from tests.upload.conftest import add_brief
from tests.upload.test_restart import _free_port, _start

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SIZE = 300 * 1024 * 1024

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")


async def _offset(ctx) -> int:  # noqa: ANN001
    async with ctx.db.reader()() as session:
        return max(await session.scalars(select(Upload.offset)), default=0)


async def test_page_resumes_after_the_server_is_killed(sqlite_url, tmp_path):
    from intake.context import build_context
    from store.migrate import upgrade
    from tests.conftest import make_settings

    playwright_api = pytest.importorskip("playwright.async_api")
    ctx = build_context(make_settings(tmp_path, sqlite_url))
    await upgrade(ctx.db)
    install(ctx)
    brief = await add_brief(ctx)
    token = await new_link(ctx, signer_for(ctx), brief.id, "test")
    path = tmp_path / "practice.mp4"
    with path.open("wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypmp42")
        block = os.urandom(1 << 20)
        for _ in range(SIZE // len(block)):
            handle.write(block)
    port = _free_port()
    env = {**os.environ, "INTAKE_DATA_DIR": str(ctx.settings.data_dir),
           "INTAKE_DATABASE_URL": sqlite_url, "INTAKE_WEB_PORT": str(port),
           "INTAKE_SMTP_ENABLED": "false", "INTAKE_UPLOAD_MIN_FREE_BYTES": "0"}
    log = (tmp_path / "serve.log").open("ab")
    server = await asyncio.to_thread(_start, env, log)
    try:
        async with playwright_api.async_playwright() as playwright:
            chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await chromium.new_page(viewport={"width": 390, "height": 844})
            # Loopback is too fast to stop anything mid-way: throttle the page's uploads.
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Network.emulateNetworkConditions", {
                "offline": False, "latency": 0, "downloadThroughput": -1,
                "uploadThroughput": 40 * 1024 * 1024})
            await page.goto(f"http://127.0.0.1:{port}/u/{token}")
            await page.set_input_files("#file", str(path))
            await page.click("#start")
            await wait_for(lambda: _over(ctx, 32 << 20), timeout=120)
            server.send_signal(signal.SIGKILL)
            server.wait()
            stopped_at = await _offset(ctx)
            assert 0 < stopped_at < path.stat().st_size
            server = await asyncio.to_thread(_start, env, log)
            # (the page's CSP forbids eval, so conditions are locators, not JS strings)
            await page.locator("#status", has_text="Received").wait_for(timeout=600_000)
            width = await page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390
            await chromium.close()
        async with ctx.db.reader()() as session:
            uploads = list(await session.scalars(select(Upload)))
        [upload] = uploads  # resumed the same upload, not started a new one
        assert upload.status == "accepted"
        await drain(ctx)
        async with ctx.db.reader()() as session:
            item = await session.get(Item, upload.item_id)
            medium = await session.scalar(select(Media).join(
                ItemMedia, ItemMedia.media_id == Media.id).where(ItemMedia.item_id == item.id))
        assert (item.status, item.brief_id, item.rule) == ("matched", brief.id, "upload_link")
        assert medium.sha256 == await asyncio.to_thread(_sha256, path)
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 60)
        log.close()
        await ctx.close()


async def _over(ctx, offset: int) -> bool:  # noqa: ANN001
    return await _offset(ctx) >= offset


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
