"""Fixtures for the IMAP tests: a private Dovecot per test, settings and pollers against it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select

from intake.context import build_context
from intake.mail.imap import load_checkpoint, make_bridge, start_pollers, stop_pollers
from store.migrate import upgrade
from store.models import Item
from tests.conftest import make_settings
from tests.imap.dovecot import Dovecot, dovecot_problem


def mail(number: int, subject: str = "Practice", body: str = "Our practice video.",
         extra: str = "") -> bytes:
    return (f"From: sender{number}@example.net\r\nTo: call@example.org\r\n"
            f"Subject: {subject} {number}\r\nMessage-ID: <m{number}@example.net>\r\n"
            f"Date: Mon, 02 Jun 2025 10:00:00 +0000\r\n{extra}\r\n{body}\r\n").encode()


def _server(tls: bool = False, extra: str = ""):  # noqa: ANN202 - a fixture body
    problem = dovecot_problem()
    if problem:
        pytest.skip(problem)
    server = Dovecot(tls=tls, extra=extra)
    if tls and server.cert is None:
        server.cleanup()
        pytest.skip("openssl is not installed: no certificate for the TLS Dovecot")
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def dovecot():
    yield from _server(tls=False)


@pytest.fixture
def dovecot_tls():
    yield from _server(tls=True)


@pytest.fixture
def dovecot_without_idle():
    # Dovecot still knows IDLE, but a client only uses what CAPABILITY lists.
    yield from _server(extra="imap_capability = IMAP4rev1 LITERAL+ UIDPLUS MOVE")


async def wait_for(check: Callable[[], Awaitable[bool]] | Callable[[], bool],
                   timeout: float = 30, what: str = "condition") -> None:
    """Wait (without blocking the loop) until check() is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def count_items(ctx) -> int:  # noqa: ANN001
    async with ctx.db.reader()() as session:
        return await session.scalar(select(func.count()).select_from(Item)) or 0


async def all_items(ctx) -> list[Item]:  # noqa: ANN001
    async with ctx.db.reader()() as session:
        return list(await session.scalars(select(Item).order_by(Item.id)))


class Harness:
    """Settings, a context and pollers for one test, all torn down at the end."""

    def __init__(self, tmp_path, database_url: str) -> None:  # noqa: ANN001
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.ctx = None
        self.pollers: list = []

    async def open(self, **overrides):  # noqa: ANN003, ANN201
        overrides.setdefault("imap_password", "secret")
        overrides.setdefault("imap_poll_seconds", 600)  # only IDLE (or a test) wakes the poller
        self.ctx = build_context(make_settings(self.tmp_path, self.database_url, **overrides))
        await upgrade(self.ctx.db)
        return self.ctx

    async def start(self, accept_fn=None) -> list:  # noqa: ANN001
        self.pollers = start_pollers(self.ctx, make_bridge(self.ctx, accept_fn))
        return self.pollers

    async def stop(self) -> None:
        await stop_pollers(self.pollers, grace=10)
        self.pollers = []

    async def checkpoint(self, index: int = 0) -> dict:
        return await load_checkpoint(self.ctx, self.pollers[index].spec.name)

    async def close(self) -> None:
        await self.stop()
        if self.ctx is not None:
            await self.ctx.close()


@pytest.fixture
async def harness(tmp_path, sqlite_url):
    h = Harness(tmp_path, sqlite_url)
    yield h
    await h.close()
