"""Prometheus metrics: this process's processing times, and queue figures from the database."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from intake.context import Context

log = logging.getLogger(__name__)

# Seconds: a text-only email takes tens of milliseconds, a 40 MB video email a few seconds.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
STATUSES = ("received", "matched", "unmatched", "failed", "rejected")
SEND_OUTCOMES = ("sent", "suppressed", "failed")


class Metrics:
    """What one process measures itself; one per Context, never a global registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.processing = Histogram(
            "intake_processing_seconds",
            "Time to process one item (parse, store media, match, write the verdict), "
            "by outcome; measured by the worker that did it.",
            ["status"], buckets=BUCKETS, registry=self.registry)

        # Link fetching (issue #13): outcomes by provider and reason, and the bytes fetched.
        self.link_fetches = Counter(
            "intake_link_fetches", "Link fetches finished by this process, by provider, "
            "outcome and, for a fetch that gave no file, its reason.",
            ["provider", "outcome", "reason"], registry=self.registry)
        self.link_bytes = Counter(
            "intake_link_fetched_bytes", "Bytes fetched from links into the store, by provider.",
            ["provider"], registry=self.registry)

    def observe_processing(self, status: str, seconds: float) -> None:
        self.processing.labels(status=status).observe(seconds)

    def observe_link_fetch(self, provider: str, outcome: str, reason: str, size: int,
                           seconds: float | None) -> None:
        self.link_fetches.labels(provider=provider, outcome=outcome, reason=reason).inc()
        if size:
            self.link_bytes.labels(provider=provider).inc(size)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(eq=False)  # a registry keeps collectors in a dict: hashable by identity
class DatabaseFigures:
    """Queue figures read from the database at scrape time (the same from any process)."""

    items: dict[tuple[str, str], int]
    waiting: int
    oldest_unmatched_seconds: float
    sent: dict[tuple[str, str], int]

    def collect(self) -> Iterator[Metric]:
        items = GaugeMetricFamily("intake_items", "Items by channel and status.",
                                  labels=["channel", "status"])
        for channel in sorted({c for c, _ in self.items}):
            for status in sorted(set(STATUSES) | {s for c, s in self.items if c == channel}):
                items.add_metric([channel, status], self.items.get((channel, status), 0))
        yield items
        yield GaugeMetricFamily("intake_items_waiting",
                                "Items without a verdict yet (received, or failed and due "
                                "for another attempt).", value=self.waiting)
        yield GaugeMetricFamily("intake_oldest_unmatched_age_seconds",
                                "Age of the oldest item waiting for a coordinator (0: none).",
                                value=self.oldest_unmatched_seconds)
        sent = GaugeMetricFamily("intake_acknowledgements",
                                 "Replies to senders by channel and outcome (sent, suppressed "
                                 "by the loop and rate rules, failed).",
                                 labels=["channel", "status"])
        for channel in sorted({c for c, _ in self.sent}):
            for status in sorted(set(SEND_OUTCOMES) | {s for c, s in self.sent if c == channel}):
                sent.add_metric([channel, status], self.sent.get((channel, status), 0))
        yield sent


async def database_figures(ctx: Context) -> DatabaseFigures:
    from store.queries import item_counts
    from store.stats import oldest_unmatched, outbound_counts, waiting_count

    async with ctx.db.reader()() as session:
        items = await item_counts(session)
        waiting = await waiting_count(session, ctx.settings.max_attempts)
        oldest = await oldest_unmatched(session)
        sent = await outbound_counts(session)
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    return DatabaseFigures(items, waiting, max(0.0, age), sent)


async def exposition(ctx: Context, with_database: bool = True) -> bytes:
    """The text Prometheus scrapes: database figures (optional) and this process's own."""
    parts = []
    if with_database:
        registry = CollectorRegistry()
        registry.register(await database_figures(ctx))
        parts.append(generate_latest(registry))
    parts.append(ctx.metrics.render())
    return b"".join(parts)


async def start_metrics_listener(ctx: Context, stack: AsyncExitStack) -> None:
    """/metrics (this process's own figures) and /healthz on INTAKE_METRICS_HOST:PORT, for
    processes without the web app: workers, the IMAP poller, the SMTP listener."""
    from aiohttp import web

    from intake.web.health import routes as health_routes
    from intake.web.state import CONTEXT

    async def metrics(_request: web.Request) -> web.Response:
        body = await exposition(ctx, with_database=False)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app[CONTEXT] = ctx
    app.router.add_get("/metrics", metrics)
    app.add_routes(health_routes)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, ctx.settings.metrics_host, ctx.settings.metrics_port)
    await site.start()
    log.info("metrics on http://%s:%s/metrics", ctx.settings.metrics_host,
             ctx.settings.metrics_port)
    stack.push_async_callback(runner.cleanup)
