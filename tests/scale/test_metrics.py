"""/metrics in Prometheus format: queue figures from the database, processing times, no sign-in."""

from __future__ import annotations

import socket
from contextlib import AsyncExitStack
from datetime import timedelta

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from channels.contract import EMAIL, RawItem
from intake.context import build_context
from intake.pipeline.accept import accept
from intake.web import build_app
from intake.web.metrics import start_metrics_listener
from store.migrate import upgrade
from store.models import Item, Outbound, utcnow
from tests.conftest import make_settings
from tests.helpers import drain, make_email


def _samples(text: str) -> dict[tuple, float]:
    """{(name, (label pairs…)): value} for every sample of the exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def _fill(ctx) -> None:  # noqa: ANN001
    for n in range(3):
        await accept(ctx, RawItem("smtp", make_email(subject=f"nothing to match {n}"), EMAIL))
    assert await drain(ctx) == 3
    await accept(ctx, RawItem("imap", make_email(subject="still waiting"), EMAIL, "box:1:1"))
    async with ctx.db.writer()() as session, session.begin():
        oldest = await session.get(Item, 1)
        oldest.received_at = utcnow() - timedelta(hours=2)
        for status in ("sent", "suppressed", "suppressed"):
            session.add(Outbound(channel="email", recipient="a@example.org", day="2026-01-01",
                                 status=status))


async def test_metrics_are_public_and_count_what_is_in_the_database(ctx):
    await _fill(ctx)
    async with TestClient(TestServer(build_app(ctx))) as client:
        response = await client.get("/metrics", allow_redirects=False)  # not signed in
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        samples = _samples(await response.text())
        # Everything else still needs a signed-in user.
        assert (await client.get("/", allow_redirects=False)).status in (302, 303)
    items = {labels: value for (name, labels), value in samples.items() if name == "intake_items"}
    assert items[(("channel", "smtp"), ("status", "unmatched"))] == 3
    assert items[(("channel", "imap"), ("status", "received"))] == 1
    assert items[(("channel", "smtp"), ("status", "failed"))] == 0  # present, at zero
    assert samples[("intake_items_waiting", ())] == 1
    assert samples[("intake_oldest_unmatched_age_seconds", ())] >= 2 * 3600 - 60
    assert samples[("intake_acknowledgements", (("channel", "email"), ("status", "sent")))] == 1
    assert samples[("intake_acknowledgements",
                    (("channel", "email"), ("status", "suppressed")))] == 2
    # Processing times were measured in this process by the worker that did the work.
    assert samples[("intake_processing_seconds_count", (("status", "unmatched"),))] == 3


async def test_an_empty_queue_reports_zeros(ctx):
    async with TestClient(TestServer(build_app(ctx))) as client:
        samples = _samples(await (await client.get("/metrics")).text())
    assert samples[("intake_items_waiting", ())] == 0
    assert samples[("intake_oldest_unmatched_age_seconds", ())] == 0


async def test_a_worker_without_the_web_app_has_its_own_listener(tmp_path, sqlite_url):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctx = build_context(make_settings(tmp_path, sqlite_url, metrics_port=port))
    await upgrade(ctx.db)
    ctx.metrics.observe_processing("matched", 0.3)
    try:
        async with AsyncExitStack() as stack:
            await start_metrics_listener(ctx, stack)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    samples = _samples(await response.text())
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    health = (response.status, await response.json())
        assert samples[("intake_processing_seconds_count", (("status", "matched"),))] == 1
        assert samples[("intake_processing_seconds_bucket",
                        (("le", "0.5"), ("status", "matched")))] == 1
        # Queue figures come from the web app only: replicas would report them twice over.
        assert not any(name == "intake_items_waiting" for name, _ in samples)
        assert health == (200, {"ok": True, "database": "ok", "blobs": "ok"})
    finally:
        await ctx.close()


def test_every_context_has_its_own_registry(tmp_path, sqlite_url):
    first = build_context(make_settings(tmp_path / "a", sqlite_url))
    second = build_context(make_settings(tmp_path / "b", sqlite_url))
    first.metrics.observe_processing("failed", 1.0)
    assert b'intake_processing_seconds_count{status="failed"} 1.0' in first.metrics.render()
    assert b"failed" not in second.metrics.render()
