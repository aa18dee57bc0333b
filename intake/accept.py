"""The one front door: make an item's raw bytes and row durable, then let the channel ack."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from channels.contract import EMAIL, Accepted, RawItem, TryLater
from intake.context import Context
from parsers.email import message_id
from store.models import Item
from store.queries import add_event, insert_items

log = logging.getLogger(__name__)


def dedupe_key(raw: RawItem) -> tuple[str, str | None]:
    """The identity of an item across deliveries and channels, and the Message-ID if any.

    Email: its Message-ID, whichever channel brought it (SMTP and IMAP copies are one item);
    without one, a hash of the bytes. Other channels: their own external id, else the hash.
    """
    if raw.content_type == EMAIL:
        ident = message_id(raw.raw)
        if ident:
            return f"email:mid:{ident}", ident
        return f"email:sha256:{hashlib.sha256(raw.raw).hexdigest()}", None
    if raw.external_id:
        return f"{raw.channel}:{raw.external_id}", None
    return f"{raw.channel}:sha256:{hashlib.sha256(raw.raw).hexdigest()}", None


async def accept(ctx: Context, raw: RawItem) -> Accepted:
    """Store the raw bytes (fsync'd) and the item row (committed); only then return.

    Raises TryLater when storage fails: the channel must not acknowledge its source.
    """
    return (await accept_many(ctx, [raw]))[0]


async def accept_many(ctx: Context, raws: Sequence[RawItem]) -> list[Accepted]:
    """accept for a batch (e.g. one getUpdates answer), with the same guarantee: every item
    is durable when it returns. The files are written side by side and the rows share one
    commit, so a batch costs about what one item does. TryLater means none may be acked."""
    try:
        hashes = await asyncio.gather(*(ctx.blobs.put_bytes(raw.raw) for raw in raws))
    except Exception as exc:  # any storage failure means "not kept": the source retries
        log.exception("blob store refused an item from %s", raws[0].channel)
        raise TryLater(f"blob store unavailable: {type(exc).__name__}") from exc
    try:
        async with ctx.db.writer()() as session, session.begin():
            rows = await insert_items(session, [_item(raw, sha256)
                                                for raw, sha256 in zip(raws, hashes, strict=True)])
            for raw, sha256, (row, new) in zip(raws, hashes, rows, strict=True):
                if not new and row.raw_sha256 != sha256:
                    # Same Message-ID, other bytes (another hop, or a reused id): keep the
                    # bytes and say so on the item, so nothing is lost and nothing doubled.
                    add_event(session, "intake", "duplicate_delivery", row.id,
                              raw_sha256=sha256, channel=raw.channel, source=raw.source)
    except (SQLAlchemyError, OSError) as exc:
        log.exception("database refused an item from %s", raws[0].channel)
        raise TryLater(f"database unavailable: {type(exc).__name__}") from exc
    if any(new for _, new in rows):
        ctx.wake.set()
    return [Accepted(row.id, duplicate=not new) for row, new in rows]


def _item(raw: RawItem, sha256: str) -> Item:
    key, ident = dedupe_key(raw)
    return Item(
        dedupe_key=key[:512], channel=raw.channel, source=raw.source, raw_sha256=sha256,
        raw_size=len(raw.raw), raw_type=raw.content_type, status="received",
        message_id=ident, chat_id=raw.source.get("chat_id"),
    )
