"""The text Prometheus scrapes: queue figures read from the database, and the process's own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from intake.context import Context

STATUSES = ("received", "matched", "unmatched", "failed", "rejected")
SEND_OUTCOMES = ("sent", "suppressed", "failed")


@dataclass(eq=False)  # a registry keeps collectors in a dict: hashable by identity
class DatabaseFigures:
    """Queue figures read from the database at scrape time (the same from any process)."""

    items: dict[tuple[str, str], int]
    waiting: int
    oldest_unmatched_seconds: float
    sent: dict[tuple[str, str], int]

    def collect(self) -> Iterator[Metric]:
        yield by_channel(GaugeMetricFamily("intake_items", "Items by channel and status.",
                                           labels=["channel", "status"]), self.items, STATUSES)
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
        yield by_channel(sent, self.sent, SEND_OUTCOMES)


def by_channel(family: GaugeMetricFamily, counts: dict[tuple[str, str], int],
               known: tuple[str, ...]) -> GaugeMetricFamily:
    """Fill a (channel, status) gauge; every known status is shown, at 0 when there is none."""
    for channel in sorted({c for c, _ in counts}):
        for status in sorted(set(known) | {s for c, s in counts if c == channel}):
            family.add_metric([channel, status], counts.get((channel, status), 0))
    return family


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
