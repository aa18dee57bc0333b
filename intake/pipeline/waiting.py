"""Waiting for the first of two events, or a timeout: the idle loops of the worker and outboxes."""

from __future__ import annotations

import asyncio


async def wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float | None) -> None:
    """Return when `stop` or `wake` is set, or after `timeout` seconds (None: no limit)."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
