"""The one front door: make an item's raw bytes and row durable, then let the channel ack."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import undefer

from channels.contract import EMAIL, Accepted, RawItem, TryLater
from intake.context import Context
from parsers.email import message_id
from store.item_inserts import Inserted, InsertFailed
from store.models import Item
from store.queries import add_event

log = logging.getLogger(__name__)

# Raw items up to this size are committed in their row (see accept_many); bigger ones are
# written to the blob store first. 64 KiB holds any Telegram update and most plain emails.
INLINE_MAX = 64 * 1024


def dedupe_key(raw: RawItem) -> tuple[str, str | None]:
    """The identity of an item across deliveries and channels, and the Message-ID if any.

    Email: its Message-ID, whichever channel brought it (SMTP and IMAP copies are one item);
    without one, a hash of the bytes. Other channels: their own external id, else the hash.
    """
    if raw.content_type == EMAIL:
        ident = message_id(raw.spooled.head if raw.spooled else raw.raw)
        if ident:
            return f"email:mid:{ident}", ident
        return f"email:sha256:{_sha256(raw)}", None
    if raw.external_id:
        return f"{raw.channel}:{raw.external_id}", None
    return f"{raw.channel}:sha256:{_sha256(raw)}", None


def _sha256(raw: RawItem) -> str:
    # A spooled item was hashed as it arrived; never read it back into memory.
    return raw.spooled.sha256 if raw.spooled else hashlib.sha256(raw.raw).hexdigest()


async def accept(ctx: Context, raw: RawItem) -> Accepted:
    """Make the raw bytes and the item row durable (committed, fsync'd); only then return.

    Raises TryLater when storage fails: the channel must not acknowledge its source.
    """
    return (await accept_many(ctx, [raw]))[0]


async def accept_many(ctx: Context, raws: Sequence[RawItem]) -> list[Accepted]:
    """accept for a batch (e.g. one getUpdates answer), with the same guarantee: every item
    is durable when it returns, and TryLater means none may be acknowledged.

    A raw item of at most INLINE_MAX bytes is committed in its row: the batch's one commit
    makes it durable, where a blob file each would cost an fsync each (a getUpdates batch
    of 100 spent most of its time there). Larger ones go to the blob store first, side by
    side. The worker moves inline bytes to the blob store when it takes the item up."""
    big = [raw for raw in raws if raw.spooled or len(raw.raw) > INLINE_MAX]
    hashes = await asyncio.gather(*(_put_blob(ctx, raw) for raw in big))
    stored = dict(zip(map(id, big), hashes, strict=True))
    items = [_item(raw, stored.get(id(raw))) for raw in raws]
    try:
        rows = await ctx.db.items.insert(items)  # one step: store/item_inserts.py
        if others := [(raw, item, row) for raw, item, row in zip(raws, items, rows, strict=True)
                      if not row.new and row.raw_sha256 != item["raw_sha256"]]:
            await _keep_other_bytes(ctx, others, stored)
    except (SQLAlchemyError, InsertFailed, OSError) as exc:
        log.exception("database refused an item from %s", raws[0].channel)
        raise TryLater(f"database unavailable: {type(exc).__name__}") from exc
    if any(row.new for row in rows):
        ctx.wake.set()
    return [Accepted(row.id, duplicate=not row.new) for row in rows]


async def _keep_other_bytes(ctx: Context, others: list[tuple[RawItem, dict, Inserted]],
                            stored: dict[int, str]) -> None:
    """Same Message-ID, other bytes (another hop, or a reused id): keep the bytes and say so
    on the item, so nothing is lost and nothing doubled. After the rows' commit; a failure
    here fails the delivery, whose retry finds the row and comes back here."""
    for raw, _, _ in others:
        if id(raw) not in stored:  # an inline copy: it has no row of its own
            await _put_blob(ctx, raw)
    async with ctx.db.writer()() as session, session.begin():
        for raw, item, row in others:
            add_event(session, "intake", "duplicate_delivery", row.id,
                      raw_sha256=item["raw_sha256"], channel=raw.channel, source=raw.source)


async def _put_blob(ctx: Context, raw: RawItem) -> str:
    try:
        if raw.spooled:  # fsync'd and renamed into place (uploaded, for S3)
            await ctx.blobs.put_file(raw.spooled.path, raw.spooled.sha256)
            return raw.spooled.sha256
        return await ctx.blobs.put_bytes(raw.raw)
    except Exception as exc:  # any storage failure means "not kept": the source retries
        log.exception("blob store refused an item from %s", raw.channel)
        raise TryLater(f"blob store unavailable: {type(exc).__name__}") from exc


async def raw_bytes(ctx: Context, item_id: int) -> bytes:
    """The raw bytes kept for an item, from its row or from the blob store."""
    async with ctx.db.reader()() as session:
        item = await session.get(Item, item_id, options=[undefer(Item.raw_inline)])
    if item is None:
        raise LookupError(f"no item {item_id}")
    if item.raw_inline is not None:
        return item.raw_inline
    return await ctx.blobs.get_bytes(item.raw_sha256)


def _item(raw: RawItem, blob_sha256: str | None) -> dict:
    """The row for a raw item: already in the blob store (its hash given), or inline."""
    key, ident = dedupe_key(raw)
    return {
        "dedupe_key": key[:512], "channel": raw.channel, "source": raw.source,
        "raw_sha256": blob_sha256 or _sha256(raw),
        "raw_inline": None if blob_sha256 else raw.raw, "raw_size": raw.size,
        "raw_type": raw.content_type, "status": "received", "message_id": ident,
        "chat_id": raw.source.get("chat_id"),
    }
