"""Engines and session factories for SQLite (WAL, BEGIN IMMEDIATE) and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from store.item_inserts import PostgresItems, SqliteItems


@dataclass
class Database:
    """A write engine and a read engine; on PostgreSQL they are the same. And the item
    inserter accept uses (store.item_inserts)."""

    url: str
    write: AsyncEngine
    read: AsyncEngine
    items: SqliteItems | PostgresItems

    @property
    def dialect(self) -> str:
        return self.write.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def writer(self) -> async_sessionmaker:
        return async_sessionmaker(self.write, expire_on_commit=False)

    def reader(self) -> async_sessionmaker:
        return async_sessionmaker(self.read, expire_on_commit=False)

    async def dispose(self) -> None:
        # aiosqlite threads are not daemons: a process that skips this hangs at exit.
        await self.items.close()
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()


# Every SQLite connection of ours. FULL, not NORMAL: a committed item must survive a power
# cut, not only a crash.
SQLITE_PRAGMAS = ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON",
                  "synchronous=FULL")


def _sqlite_hooks(engine: AsyncEngine, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001 - SQLAlchemy hook
        cursor = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()
        dbapi_conn.isolation_level = None  # stop pysqlite's implicit, deferred BEGIN

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        # Writers take the lock up front: a deferred read→write upgrade fails at once
        # with "database is locked" and loses updates silently in legacy mode.
        conn.exec_driver_sql(begin)


def open_database(url: str) -> Database:
    """Create the engines for a database URL (sqlite+aiosqlite:// or postgresql+asyncpg://)."""
    if url.startswith("sqlite"):
        write = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=120)
        read = create_async_engine(url)
        _sqlite_hooks(write, "BEGIN IMMEDIATE")
        _sqlite_hooks(read, "BEGIN")
        items = SqliteItems(make_url(url).database, write.dialect, SQLITE_PRAGMAS)
        return Database(url, write, read, items)
    engine = create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    return Database(url, engine, engine, PostgresItems(engine))
