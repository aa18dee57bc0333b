"""Figures for monitoring: queue depth, the oldest unmatched item, messages sent by outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Item, Outbound


async def waiting_count(session: AsyncSession, max_attempts: int) -> int:
    """Items without a verdict yet: received, or failed and still to be retried."""
    query = select(func.count()).select_from(Item).where(or_(
        Item.status == "received",
        (Item.status == "failed") & (Item.attempts < max_attempts),
    ))
    return await session.scalar(query) or 0


async def oldest_unmatched(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.min(Item.received_at))
                                .where(Item.status == "unmatched"))


async def outbound_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = await session.execute(
        select(Outbound.channel, Outbound.status, func.count())
        .group_by(Outbound.channel, Outbound.status))
    return {(channel, status): n for channel, status, n in rows}
