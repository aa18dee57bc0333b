"""Item rows inserted in one step, off SQLAlchemy's session: accept's hot path."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, NamedTuple

from sqlalchemy import Column, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from store.models import Item

# Through an AsyncSession, one batch of eight webhook messages took 3.5 ms on SQLite and
# on PostgreSQL: BEGIN, INSERT and COMMIT are each a round trip through the async adapter,
# with the ORM's bookkeeping in between, for under 1 ms of the database's own work (its
# fsync included). Both inserters below run the same statement in one step. The SQL is
# SQLAlchemy's, compiled from the model, and the values go through the model's own column
# types and defaults, so the rows are those the ORM writes (tests/test_item_inserts.py).

ConnectHook = Callable[[sqlite3.Connection], None]

# Rows per INSERT: 500 rows of 15 columns stay far below both databases' limits on
# parameters in one statement (32,766 on SQLite, 32,767 on PostgreSQL).
CHUNK = 500


class Inserted(NamedTuple):
    id: int
    raw_sha256: str  # of the row now stored under the key: another's when not new
    new: bool


class InsertFailed(Exception):
    """The database refused the rows or could not be reached; none of them is stored."""


class SqliteItems:
    """Item rows into a SQLite file: the whole transaction in one call on a thread of its
    own, with a connection of its own, which SQLite leaves to fsync without the GIL.

    A second writer on the file is safe: every writer takes BEGIN IMMEDIATE and waits its
    turn (busy_timeout), as the worker processes already do."""

    def __init__(self, path: str, dialect: Dialect, pragmas: Sequence[str]) -> None:
        self.path, self.pragmas = path, pragmas
        self._rows = _Statements(dialect, sqlite_insert)
        self._lookup = str(_lookup().compile(dialect=dialect))
        self._hooks: list[ConnectHook] = []
        self._conn: sqlite3.Connection | None = None
        self._stale = False
        self._thread: ThreadPoolExecutor | None = None  # made again after close(), as engines

    async def insert(self, rows: Sequence[dict]) -> list[Inserted]:
        """Insert the rows (column values, all naming the same columns) whose dedupe key is
        free; return, in order, the row each one now is. Committed when it returns."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="intake-items")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, self._insert, rows)
        except sqlite3.Error as exc:
            raise InsertFailed(f"{type(exc).__name__}: {exc}") from exc

    def add_connect_hook(self, hook: ConnectHook) -> None:
        """Run `hook` on each connection opened from now on, as SQLAlchemy's "connect"
        event does (fault injection, tracing); the next insert opens one."""
        self._hooks.append(hook)
        self._stale = True

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(thread, self._close)
            thread.shutdown(wait=True)

    def _connection(self) -> sqlite3.Connection:
        if self._stale:
            self._close()
            self._stale = False
        if self._conn is None:
            # isolation_level None: no implicit, deferred BEGIN (as store.db's engines).
            conn = sqlite3.connect(self.path, isolation_level=None)
            for pragma in self.pragmas:
                conn.execute(f"PRAGMA {pragma}")
            for hook in self._hooks:
                hook(conn)
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _insert(self, rows: Sequence[dict]) -> list[Inserted]:
        if not rows:
            return []
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            made = {}
            for chunk in _chunks(rows):
                many = self._rows.get(tuple(rows[0]), len(chunk))
                # RETURNING comes in no promised order: the rows are told apart by their key.
                made.update((key, item_id) for item_id, key in conn.execute(
                    many.sql, many.params(chunk)))
            kept = {key: conn.execute(self._lookup, (key,)).fetchone()
                    for key in {row["dedupe_key"] for row in rows} - made.keys()}
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return _settle(rows, made, kept)


class PostgresItems:
    """Item rows into PostgreSQL: one INSERT of every row in autocommit, on a small asyncpg
    pool of its own (SQLAlchemy's pool pings each connection it lends: a round trip more).
    One statement is atomic, and durable when it returns; keys that were already there are
    read back after it, from committed rows."""

    def __init__(self, engine: AsyncEngine, size: int = 4) -> None:
        self._rows = _Statements(engine.dialect, pg_insert)
        self._lookup = str(_lookup().compile(dialect=engine.dialect))
        _, options = engine.dialect.create_connect_args(engine.url)
        for adapter_only in ("async_creator_fn", "prepared_statement_cache_size",
                             "prepared_statement_name_func"):  # SQLAlchemy's, not asyncpg's
            options.pop(adapter_only, None)
        self._options, self._size = options, size
        self._pool = None
        self._opening = asyncio.Lock()

    async def insert(self, rows: Sequence[dict]) -> list[Inserted]:
        """As SqliteItems.insert."""
        from asyncpg import InterfaceError, PostgresError  # not loaded by SQLite's users

        if not rows:
            return []
        try:
            return await self._insert(rows)
        except (PostgresError, InterfaceError) as exc:
            raise InsertFailed(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _insert(self, rows: Sequence[dict]) -> list[Inserted]:
        # asyncpg's own codecs take what SQLAlchemy's bind processing gives: JSON as text.
        async with (await self._connections()).acquire() as conn:
            chunks = _chunks(rows)
            # One statement commits by itself; several must commit together.
            async with conn.transaction() if len(chunks) > 1 else nullcontext():
                made = {}
                for chunk in chunks:
                    many = self._rows.get(tuple(rows[0]), len(chunk))
                    made.update((key, item_id) for item_id, key in await conn.fetch(
                        many.sql, *many.params(chunk)))
            kept = {}
            for key in {row["dedupe_key"] for row in rows} - made.keys():
                kept[key] = tuple(await conn.fetchrow(self._lookup, key))
        return _settle(rows, made, kept)

    async def _connections(self):  # noqa: ANN202 - an asyncpg.Pool, imported lazily
        async with self._opening:
            if self._pool is None:
                import asyncpg

                self._pool = await asyncpg.create_pool(min_size=0, max_size=self._size,
                                                       reset=_nothing_to_reset, **self._options)
        return self._pool


async def _nothing_to_reset(_conn: object) -> None:
    # asyncpg resets a released connection in a round trip of its own (RESET ALL, UNLISTEN,
    # advisory unlocks...); this pool's autocommitted statements leave no state behind.
    return


def _settle(rows: Sequence[dict], made: dict[str, int],
            kept: dict[str, tuple[int, str]]) -> list[Inserted]:
    """What each row of a batch now is: `made` maps the keys just inserted to their ids,
    `kept` the keys that were already there to their (id, raw_sha256). A key repeated in
    the batch is new the first time and that same row after."""
    made, kept = dict(made), dict(kept)
    result = []
    for row in rows:
        key = row["dedupe_key"]
        if key in made:
            result.append(Inserted(made[key], row["raw_sha256"], True))
            kept[key] = (made.pop(key), row["raw_sha256"])
        else:
            result.append(Inserted(*kept[key], False))
    return result


def _chunks(rows: Sequence[dict], size: int = CHUNK) -> list[Sequence[dict]]:
    return [rows[start:start + size] for start in range(0, len(rows), size)]


def _lookup():  # noqa: ANN202 - a SQL statement
    return select(Item.id, Item.raw_sha256).where(Item.dedupe_key == bindparam("key"))


class _Statements:
    """The INSERT .. ON CONFLICT DO NOTHING RETURNING of `count` rows naming `keys`, one per
    shape, compiled once (a webhook's batches come in a few sizes)."""

    def __init__(self, dialect: Dialect, insert: Callable, limit: int = 64) -> None:
        self.dialect, self.insert, self.limit = dialect, insert, limit
        self._known: dict[tuple[tuple[str, ...], int], _Insert] = {}

    def get(self, keys: tuple[str, ...], count: int) -> _Insert:
        statement = self._known.get((keys, count))
        if statement is None:
            if len(self._known) >= self.limit:
                self._known.clear()
            statement = self._known[keys, count] = _Insert(self, keys, count)
        return statement


class _Insert:
    """One compiled INSERT, and how to turn rows into its DBAPI parameters."""

    def __init__(self, shape: _Statements, keys: tuple[str, ...], count: int) -> None:
        table, dialect = Item.__table__, shape.dialect
        defaulted = [c for c in table.c
                     if c.key not in keys and c.default is not None and not c.primary_key]
        self._columns = [table.c[key] for key in keys] + defaulted
        self._process = [c.type.dialect_impl(dialect).bind_processor(dialect)
                         for c in self._columns]
        self._own = len(keys)
        places = {}
        values = []
        for i in range(count):
            row = {}
            for j, column in enumerate(self._columns):
                name = f"r{i}c{j}"
                places[name] = (i, j)
                row[column.key] = bindparam(name, type_=column.type)
            values.append(row)
        statement = (shape.insert(table).values(values)
                     .on_conflict_do_nothing(index_elements=["dedupe_key"])
                     .returning(table.c.id, table.c.dedupe_key))
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self._order = [places[name] for name in compiled.positiontup]

    def params(self, rows: Sequence[dict]) -> list[Any]:
        # Defaults once for the batch: its rows were received together.
        filled = [_default(c, p) for c, p in
                  zip(self._columns[self._own:], self._process[self._own:], strict=True)]
        own = list(zip(self._columns[:self._own], self._process[:self._own], strict=True))
        table = [[p(row[c.key]) if p else row[c.key] for c, p in own] + filled
                 for row in rows]
        return [table[i][j] for i, j in self._order]


def _default(column: Column, process: Callable | None) -> Any:
    # SQLAlchemy wraps a callable default into one that takes the execution context.
    value = column.default.arg(None) if column.default.is_callable else column.default.arg
    return process(value) if process else value
