"""PostgreSQL advisory locks: one migration run at a time, one leader per named duty."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATION_LOCK = "intake:migrations"


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a name (advisory locks are keyed by bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def xact_lock(conn: AsyncConnection, name: str) -> None:
    """Wait for the lock on `name`; it is released when the transaction ends."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


async def try_session_lock(conn: AsyncConnection, name: str) -> bool:
    """Take the lock on `name` for as long as this connection lives, if nobody holds it."""
    got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(name)})
    return bool(got)


async def session_unlock(conn: AsyncConnection, name: str) -> None:
    await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)})


async def ping(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT 1"))


async def holders(conn: AsyncConnection, name: str) -> list[str]:
    """application_name of the sessions holding the lock on `name` (for operators, tests)."""
    key = lock_key(name)
    rows = await conn.execute(text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.classid = :high AND l.objid = :low AND l.objsubid = 1"),
        {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF})
    return [row[0] for row in rows]
