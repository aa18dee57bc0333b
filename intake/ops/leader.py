"""Leadership by PostgreSQL advisory lock: one process does a duty, the others stand by."""

from __future__ import annotations

import asyncio
import logging
import os

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from store.locks import ping, session_unlock, try_session_lock

log = logging.getLogger(__name__)

RETRY_SECONDS = 3.0  # a standby asks for the lock this often
CHECK_SECONDS = 5.0  # a leader checks this often that its lock connection is alive
CHECK_TIMEOUT = 10.0


def lock_engine(url: str) -> AsyncEngine:
    """Connections that really close when released (a pooled one would keep the lock)."""
    args = {}
    if url.startswith("postgresql+asyncpg"):
        # Shows in pg_stat_activity: who holds which lock.
        args["server_settings"] = {"application_name": f"intake-leader:{os.getpid()}"}
    return create_async_engine(url, poolclass=NullPool, connect_args=args)


class Leadership:
    """Holds the advisory lock on `name` on a dedicated connection, for as long as it leads.

    A session lock lives as long as its connection: when the leader dies, PostgreSQL drops
    the connection and the lock with it, and a standby's next try succeeds."""

    def __init__(self, engine: AsyncEngine, name: str, retry: float = RETRY_SECONDS,
                 check: float = CHECK_SECONDS) -> None:
        self.engine = engine
        self.name = name
        self.retry = retry
        self.check = check
        self._conn: AsyncConnection | None = None

    @property
    def leading(self) -> bool:
        return self._conn is not None

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this process holds the lock (True) or `stop` is set (False)."""
        said = False
        while not stop.is_set():
            if await self._try():
                return True
            if not said:
                log.info("%s: another process leads; standing by", self.name)
                said = True
            if await _wait(stop, self.retry):
                break
        return False

    async def _try(self) -> bool:
        conn = None
        try:
            conn = await self.engine.connect()
            # Autocommit: no transaction stays open for the hours the lock is held.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            if await try_session_lock(conn, self.name):
                self._conn = conn
                return True
        except (SQLAlchemyError, OSError) as exc:
            log.warning("%s: cannot ask for the lock: %s", self.name, exc)
        if conn is not None:
            await _close(conn)
        return False

    async def watch(self, stop: asyncio.Event) -> bool:
        """While leading: return False when `stop` is set, True when the lock was lost."""
        while not await _wait(stop, self.check):
            try:
                await asyncio.wait_for(ping(self._conn), CHECK_TIMEOUT)
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.error("%s: lost the lock connection (%s); stepping down", self.name, exc)
                await self.release()
                return True
        return False

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await session_unlock(conn, self.name)
        except (SQLAlchemyError, OSError):
            log.debug("%s: unlock failed; closing the connection drops the lock", self.name)
        await _close(conn)


async def _close(conn: AsyncConnection) -> None:
    try:
        await conn.close()
    except (SQLAlchemyError, OSError):
        await conn.invalidate()


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True if `stop` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
