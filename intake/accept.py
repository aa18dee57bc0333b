"""The one front door: make an item's raw bytes and row durable, then let the channel ack."""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy.exc import SQLAlchemyError

from channels.contract import EMAIL, Accepted, RawItem, TryLater
from intake.context import Context
from parsers.email import message_id
from store.models import Item
from store.queries import add_event, insert_item

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
    key, ident = dedupe_key(raw)
    try:
        sha256 = await ctx.blobs.put_bytes(raw.raw)
    except Exception as exc:  # any storage failure means "not kept": the source retries
        log.exception("blob store refused an item from %s", raw.channel)
        raise TryLater(f"blob store unavailable: {type(exc).__name__}") from exc
    item = Item(
        dedupe_key=key[:512], channel=raw.channel, source=raw.source, raw_sha256=sha256,
        raw_size=len(raw.raw), raw_type=raw.content_type, status="received",
        message_id=ident, chat_id=raw.source.get("chat_id"),
    )
    try:
        async with ctx.db.writer()() as session, session.begin():
            row, new = await insert_item(session, item)
            if not new and row.raw_sha256 != sha256:
                # Same Message-ID, other bytes (another hop, or a reused id): keep the bytes
                # and say so on the item, so nothing is lost and nothing is doubled.
                add_event(session, "intake", "duplicate_delivery", row.id,
                          raw_sha256=sha256, channel=raw.channel, source=raw.source)
    except (SQLAlchemyError, OSError) as exc:
        log.exception("database refused an item from %s", raw.channel)
        raise TryLater(f"database unavailable: {type(exc).__name__}") from exc
    if new:
        ctx.wake.set()
    return Accepted(row.id, duplicate=not new)
