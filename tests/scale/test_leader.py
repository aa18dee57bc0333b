"""PostgreSQL advisory locks: one leader per duty, a standby takes over, one migration at once."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import text

from intake.ops.leader import Leadership, lock_engine
from store.db import open_database
from store.locks import holders
from store.migrate import current_revision, head_revision, upgrade


async def _engines(url: str, n: int):  # noqa: ANN202
    return [lock_engine(url) for _ in range(n)]


async def test_one_leader_at_a_time_and_the_standby_takes_over(pg_url):
    first, second = await _engines(pg_url, 2)
    stop = asyncio.Event()
    try:
        leader = Leadership(first, "imap:box", retry=0.1)
        standby = Leadership(second, "imap:box", retry=0.1)
        assert await leader.acquire(stop)
        waiting = asyncio.create_task(standby.acquire(stop))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # the lock is taken: it keeps standing by
        async with first.connect() as conn:
            assert await holders(conn, "imap:box") == [f"intake-leader:{os.getpid()}"]
        await leader.release()
        assert await asyncio.wait_for(waiting, 10)
        assert standby.leading and not leader.leading
        # Another duty's lock is independent of this one.
        other = Leadership(first, "imap:other-box", retry=0.1)
        assert await other.acquire(stop)
        await other.release()
        await standby.release()
    finally:
        stop.set()
        for engine in (first, second):
            await engine.dispose()


async def test_a_leader_that_loses_its_connection_steps_down(pg_url):
    first, second = await _engines(pg_url, 2)
    stop = asyncio.Event()
    try:
        leader = Leadership(first, "imap:box", retry=0.1, check=0.1)
        assert await leader.acquire(stop)
        backend = await leader._conn.scalar(text("SELECT pg_backend_pid()"))
        async with second.connect() as conn:  # an operator (or a network cut) ends it
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        assert await asyncio.wait_for(leader.watch(stop), 10) is True
        assert not leader.leading
        standby = Leadership(second, "imap:box", retry=0.1)
        assert await asyncio.wait_for(standby.acquire(stop), 10)
        await standby.release()
    finally:
        stop.set()
        for engine in (first, second):
            await engine.dispose()


async def test_a_standby_gives_up_waiting_when_stopped(pg_url):
    first, second = await _engines(pg_url, 2)
    stop = asyncio.Event()
    try:
        leader = Leadership(first, "imap:box")
        assert await leader.acquire(stop)
        waiting = asyncio.create_task(Leadership(second, "imap:box", retry=60).acquire(stop))
        await asyncio.sleep(0.2)
        stop.set()
        assert await asyncio.wait_for(waiting, 5) is False
        assert await asyncio.wait_for(leader.watch(stop), 5) is False  # stopped, not lost
        await leader.release()
    finally:
        for engine in (first, second):
            await engine.dispose()


async def test_processes_starting_together_migrate_once(pg_url):
    databases = [open_database(pg_url) for _ in range(4)]
    try:
        await asyncio.gather(*(upgrade(db) for db in databases))
        assert await current_revision(databases[0]) == head_revision()
    finally:
        for db in databases:
            await db.dispose()
