"""Prometheus metrics that one process measures itself (processing times)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

log = logging.getLogger(__name__)

# Seconds: a text-only email takes tens of milliseconds, a 40 MB video email a few seconds.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


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
