"""store.item_inserts: accept's one-step inserts write what the ORM writes, on both
databases, commit before they return, and share the table safely with other writers."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import undefer

from store.item_inserts import InsertFailed
from store.models import Item
from tests.helpers import FailingInserts


def _row(key: str, **kw) -> dict:
    row = {"dedupe_key": key, "channel": "whatsapp", "raw_sha256": "e" * 64,
           "raw_inline": b'{"object": "whatsapp_business_account", "caf\xc3\xa9": 1}',
           "raw_size": 52, "raw_type": "application/x-whatsapp-event",
           "source": {"kind": "messages", "user_id": "22507000001", "language": "fr",
                      "note": "caf\u00e9 \u4e2d\u6587"},
           "status": "received", "message_id": None, "chat_id": "+22507000001"}
    return row | kw


async def _stored(ctx, key: str) -> dict:
    async with ctx.db.reader()() as session:
        item = await session.scalar(select(Item).where(Item.dedupe_key == key)
                                    .options(undefer(Item.raw_inline)))
        return {c.key: getattr(item, c.key) for c in inspect(Item).column_attrs}


async def _count(ctx) -> int:
    async with ctx.db.reader()() as session:
        return await session.scalar(select(func.count(Item.id)))


async def test_the_rows_are_those_the_orm_writes(ctx):
    async with ctx.db.writer()() as session, session.begin():
        session.add(Item(**_row("orm")))
    await ctx.db.items.insert([_row("fast")])
    orm, fast = await _stored(ctx, "orm"), await _stored(ctx, "fast")
    assert fast["id"] != orm["id"] and fast["dedupe_key"] == "fast"
    # Defaults filled in (flags, candidates, attempts...), types kept (JSON, bytes, time).
    assert fast["flags"] == [] and fast["features"] == {} and fast["attempts"] == 0
    assert fast["received_at"].tzinfo is not None
    assert abs(fast["received_at"] - datetime.now(UTC)) < timedelta(minutes=5)
    skip = {"id", "dedupe_key", "received_at"}
    assert {k: v for k, v in fast.items() if k not in skip} == \
           {k: v for k, v in orm.items() if k not in skip}


async def test_a_batch_inserts_new_keys_and_names_the_rows_already_there(ctx):
    (old,) = await ctx.db.items.insert([_row("k1", raw_sha256="a" * 64)])
    rows = await ctx.db.items.insert([_row("k2", raw_sha256="b" * 64),
                                      _row("k1", raw_sha256="c" * 64), _row("k3"),
                                      _row("k2", raw_sha256="d" * 64)])
    assert old.new and [row.new for row in rows] == [True, False, True, False]
    assert rows[1] == (old.id, "a" * 64, False)  # the row kept: its bytes' hash, not ours
    assert rows[3] == (rows[0].id, "b" * 64, False)  # repeated in the batch: the first
    assert await _count(ctx) == 3


async def test_committed_when_it_returns(ctx):
    await ctx.db.items.insert([_row(f"c{n}") for n in range(5)])
    # Another connection (the read engine's) sees them: nothing waits in an open transaction.
    assert await _count(ctx) == 5


async def test_racing_on_one_key_makes_one_row(ctx):
    # On PostgreSQL these run on several pooled connections at once.
    rows = await asyncio.gather(*(ctx.db.items.insert([_row("race")]) for _ in range(12)))
    assert len({row.id for (row,) in rows}) == 1 and sum(row.new for (row,) in rows) == 1
    assert await _count(ctx) == 1


async def test_waits_for_another_writer_instead_of_failing(ctx):
    """On SQLite the inserter is a second writer: it waits for the lock (busy_timeout)."""
    async with ctx.db.writer()() as session, session.begin():
        session.add(Item(**_row("first")))
        await session.flush()
        waiting = asyncio.create_task(ctx.db.items.insert([_row("second")]))
        await asyncio.sleep(0.3)  # the other writer holds its transaction meanwhile
        assert not waiting.done() or not ctx.db.is_sqlite
    (second,) = await waiting
    assert second.new and await _count(ctx) == 2


async def test_a_refused_insert_stores_nothing_and_says_why(ctx):
    await FailingInserts.install(ctx.db, failures=1)
    with pytest.raises(InsertFailed, match="Error"):
        await ctx.db.items.insert([_row("a"), _row("b")])
    assert await _count(ctx) == 0
    rows = await ctx.db.items.insert([_row("a"), _row("b")])  # the retry goes through
    assert all(row.new for row in rows) and await _count(ctx) == 2


async def test_a_batch_larger_than_one_statement_is_one_commit(ctx):
    from store.item_inserts import CHUNK

    rows = [_row(f"big{n}") for n in range(2 * CHUNK + 1)] + [_row("big0")]
    inserted = await ctx.db.items.insert(rows)
    assert sum(row.new for row in inserted) == 2 * CHUNK + 1
    assert inserted[-1] == (inserted[0].id, inserted[0].raw_sha256, False)
    assert len({row.id for row in inserted}) == 2 * CHUNK + 1
    assert await _count(ctx) == 2 * CHUNK + 1


async def test_usable_again_after_dispose_and_closed_twice(ctx):
    await ctx.db.items.insert([_row("before")])
    await ctx.db.dispose()
    await ctx.db.dispose()  # the CLI's context closes once more on its way out
    await ctx.db.items.insert([_row("after")])  # as an engine does, it opens again
    assert await _count(ctx) == 2
