"""Prometheus metrics that one process measures itself (processing times)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Histogram, generate_latest

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

    def observe_processing(self, status: str, seconds: float) -> None:
        self.processing.labels(status=status).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
