"""Queries of email acknowledgements: the daily cap, the outbox of owed messages, threads."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Brief, Event, Item, Outbound, utcnow

CHANNEL = "email"
# Row states: pending (owed) → sending (claimed by one sender) → sent | failed; or suppressed.
COUNTED = ("pending", "sending", "sent")  # these use up the day's one acknowledgement
HANDLED = (*COUNTED, "suppressed")  # an item with one of these is never decided again


async def lock_bucket(session: AsyncSession, recipient: str, brief_id: int | None,
                      day: str) -> None:
    """Serialise deciders of one (recipient, brief, day) until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock, since the row to check may not exist
    yet. SQLite: nothing to do, the writer's BEGIN IMMEDIATE serialises every writer."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"ack|{recipient}|{brief_id}|{day}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def item_handled(session: AsyncSession, item_id: int) -> bool:
    query = select(Outbound.id).where(Outbound.item_id == item_id, Outbound.channel == CHANNEL,
                                      Outbound.status.in_(HANDLED)).limit(1)
    return await session.scalar(query) is not None


async def cap_taken(session: AsyncSession, recipient: str, brief_id: int | None,
                    day: str) -> bool:
    """Has `recipient` had (or is owed) an acknowledgement for this brief today?"""
    brief = Outbound.brief_id.is_(None) if brief_id is None else Outbound.brief_id == brief_id
    query = select(Outbound.id).where(
        Outbound.channel == CHANNEL, Outbound.recipient == recipient, Outbound.day == day,
        brief, Outbound.status.in_(COUNTED)).limit(1)
    return await session.scalar(query) is not None


def record(session: AsyncSession, **fields: object) -> Outbound:
    row = Outbound(channel=CHANNEL, **fields)
    session.add(row)
    return row


FILED = "filed"  # reason of a word owed because a coordinator filed the item


def ack_message_id(ack_from: str, hostname: str, item_id: int) -> str:
    """A fresh Message-ID for one of our acknowledgements (the thread rule knows it)."""
    domain = ack_from.rpartition("@")[2] or hostname
    return f"ack.{secrets.token_hex(12)}.{item_id}@{domain}"


async def queue_filed(session: AsyncSession, item: Item, message_id: str) -> bool:
    """A coordinator filed an emailed item: owe its sender a word, if we answered them
    before (the loop and backscatter checks passed then) and have not told them of this
    brief today. A word owed and not yet sent about this item is replaced."""
    first = await session.scalar(
        select(Outbound).where(Outbound.item_id == item.id, Outbound.channel == CHANNEL,
                               Outbound.status == "sent", Outbound.reason.not_like(f"{FILED}%"))
        .order_by(Outbound.id).limit(1))
    if first is None or item.brief_id is None:
        return False
    await session.execute(
        update(Outbound).where(Outbound.item_id == item.id, Outbound.channel == CHANNEL,
                               Outbound.status == "pending", Outbound.reason == FILED)
        .values(status="suppressed"))
    day = utcnow().date().isoformat()
    await lock_bucket(session, first.recipient, item.brief_id, day)
    if await cap_taken(session, first.recipient, item.brief_id, day):
        return False
    record(session, item_id=item.id, brief_id=item.brief_id, recipient=first.recipient,
           day=day, status="pending", reason=FILED, message_id=message_id)
    return True


async def pending(session: AsyncSession, limit: int = 50) -> list[Outbound]:
    query = (select(Outbound).where(Outbound.channel == CHANNEL, Outbound.status == "pending")
             .order_by(Outbound.id).limit(limit))
    return list(await session.scalars(query))


async def claim(session: AsyncSession, outbound_id: int) -> bool:
    """pending → sending for exactly one sender (the UPDATE is the judge, on any database)."""
    result = await session.execute(
        update(Outbound).where(Outbound.id == outbound_id, Outbound.status == "pending")
        .values(status="sending", at=utcnow()))
    return result.rowcount == 1


async def finish(session: AsyncSession, outbound_id: int, status: str,
                 reason: str | None = None) -> None:
    values: dict = {"status": status, "at": utcnow()}
    if reason is not None:
        values["reason"] = reason
    await session.execute(update(Outbound).where(Outbound.id == outbound_id).values(**values))


async def release_stale(session: AsyncSession, claimed_before: datetime) -> int:
    """Claims of a sender that died go back to pending (it may, rarely, have sent one)."""
    result = await session.execute(
        update(Outbound).where(Outbound.channel == CHANNEL, Outbound.status == "sending",
                               Outbound.at < claimed_before).values(status="pending"))
    return result.rowcount or 0


async def expire(session: AsyncSession, before_day: str) -> int:
    """Owed acknowledgements from before `before_day` are given up: late ones are noise."""
    result = await session.execute(
        update(Outbound).where(Outbound.channel == CHANNEL, Outbound.status == "pending",
                               Outbound.day < before_day)
        .values(status="failed", reason="expired before the relay took it"))
    return result.rowcount or 0


async def ack_in_thread(session: AsyncSession, message_ids: Sequence[str]) -> Outbound | None:
    """The acknowledgement we sent that a reply refers to (In-Reply-To first), if any."""
    ids = [i for i in message_ids if i][:50]
    if not ids:
        return None
    rows = {row.message_id: row for row in await session.scalars(
        select(Outbound).where(Outbound.channel == CHANNEL, Outbound.status == "sent",
                               Outbound.message_id.in_(ids)))}
    return next((rows[i] for i in ids if i in rows), None)


async def last_review_actor(session: AsyncSession, item_id: int) -> str | None:
    """Who last assigned, rejected or undid this item by hand (None: nobody)."""
    query = (select(Event.actor).where(Event.item_id == item_id,
                                       Event.action.in_(("assign", "reject", "create_brief",
                                                         "undo")))
             .order_by(Event.id.desc()).limit(1))
    return await session.scalar(query)


async def briefs_by_refs(session: AsyncSession, refs: Sequence[str]) -> list[Brief]:
    if not refs:
        return []
    return list(await session.scalars(select(Brief).where(Brief.ref.in_(list(refs)))))
