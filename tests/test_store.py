"""Store: migrations, identity by unique constraints, queue claims, blobs — on both databases."""

import asyncio
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from store.blobs import FileBlobStore
from store.db import open_database
from store.migrate import current_revision, downgrade, head_revision, upgrade
from store.models import Item, Media
from store.queries import claim_items, upsert_media


def _values(key: str, **kw) -> dict:
    values = {"dedupe_key": key, "channel": "smtp", "raw_sha256": "0" * 64, "raw_size": 1,
              "raw_type": "message/rfc822", "source": {}}
    return values | kw


def _item(key: str, **kw) -> Item:
    return Item(**_values(key, **kw))


async def test_migrations_go_up_and_down(database_url):
    db = open_database(database_url)
    try:
        await upgrade(db)
        assert await current_revision(db) == head_revision()
        await downgrade(db, "base")
        assert await current_revision(db) is None
        await upgrade(db)
        assert await current_revision(db) == head_revision()
    finally:
        await db.dispose()


async def test_schema_matches_the_models(ctx):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from store.models import Base

    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async with ctx.db.write.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []


async def test_the_brief_and_message_id_indexes_leave_out_rows_without_one(ctx):
    """Migration 0008: partial indexes on both databases, as the models declare them (the
    comparison above does not look at an index's WHERE), and no index on the sender."""
    from sqlalchemy import text

    if ctx.db.write.dialect.name == "sqlite":
        listing = "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'items' AND sql > ''"
    else:
        listing = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'items'"
    async with ctx.db.write.connect() as conn:
        rows = (await conn.execute(text(listing))).all()
    indexes = {name: sql.replace("(", "").replace(")", "") for name, sql in rows}  # PG adds ()
    assert "WHERE brief_id IS NOT NULL" in indexes["ix_items_brief_id"]
    assert "WHERE message_id IS NOT NULL" in indexes["ix_items_message_id"]
    assert "ix_items_sender" not in indexes
    assert "WHERE" not in indexes["ix_items_status_id"]
    if ctx.db.write.dialect.name == "sqlite":  # and the lookups still use them
        async with ctx.db.write.connect() as conn:
            plans = [" ".join(row[3] for row in (await conn.execute(text(
                f"EXPLAIN QUERY PLAN SELECT id FROM items WHERE {where}"))).all())
                for where in ("brief_id IN (1, 2)", "message_id IN ('a', 'b')")]
        assert "ix_items_brief_id" in plans[0] and "ix_items_message_id" in plans[1]


async def test_the_database_itself_refuses_a_second_row_with_the_same_key(ctx):
    from sqlalchemy.exc import IntegrityError

    async with ctx.db.writer()() as session, session.begin():
        session.add(_item("k"))
    with pytest.raises(IntegrityError):
        async with ctx.db.writer()() as session, session.begin():
            session.add(_item("k"))


async def test_media_is_one_row_per_sha256(ctx):
    async with ctx.db.writer()() as session, session.begin():
        first = await upsert_media(session, Media(key="sha256:" + "a" * 64, kind="video"))
        again = await upsert_media(session, Media(key="sha256:" + "a" * 64, kind="video"))
        assert first.id == again.id


async def test_concurrent_claimers_never_claim_the_same_item(ctx):
    async with ctx.db.writer()() as session, session.begin():
        for n in range(60):
            session.add(_item(f"k{n}"))

    async def claimer(name):
        got = []
        while True:
            async with ctx.db.writer()() as session, session.begin():
                ids = await claim_items(session, name, 5, timedelta(minutes=5), 5)
            if not ids:
                return got
            got += ids
            async with ctx.db.writer()() as session, session.begin():
                await session.execute(update(Item).where(Item.id.in_(ids))
                                      .values(status="matched", worker=None))

    claimed = await asyncio.gather(*(claimer(f"w{n}") for n in range(4)))
    everything = [i for ids in claimed for i in ids]
    assert len(everything) == 60 and len(set(everything)) == 60


async def test_read_modify_write_loses_no_update(ctx):
    """The notes' trap: deferred SQLite transactions lost 79 of 100 increments."""
    async with ctx.db.writer()() as session, session.begin():
        session.add(_item("counter", attempts=0))

    async def bump():
        for _ in range(20):
            async with ctx.db.writer()() as session, session.begin():
                item = await session.scalar(
                    select(Item).where(Item.dedupe_key == "counter").with_for_update())
                item.attempts = item.attempts + 1

    await asyncio.gather(*(bump() for _ in range(5)))
    async with ctx.db.reader()() as session:
        assert await session.scalar(text("SELECT attempts FROM items")) == 100


async def test_blob_store_is_content_addressed_and_atomic(tmp_path):
    blobs = FileBlobStore(tmp_path / "blobs")
    data = b"video bytes" * 1000
    sha = await blobs.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert await blobs.put_bytes(data) == sha  # a second copy is not written
    assert blobs.path(sha).read_bytes() == data
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []  # no temp file left behind
    assert b"".join([c async for c in blobs.stream(sha)]) == data
    with pytest.raises(ValueError):
        blobs.path("../../etc/passwd")


async def test_put_file_moves_a_spooled_file_into_place(tmp_path):
    blobs = FileBlobStore(tmp_path / "blobs")
    spooled = tmp_path / "blobs" / "tmp"
    spooled.mkdir(parents=True)
    source = spooled / "att-1"
    source.write_bytes(b"abc")
    sha = hashlib.sha256(b"abc").hexdigest()
    await blobs.put_file(source, sha)
    assert not source.exists() and blobs.path(sha).read_bytes() == b"abc"
