"""Queries for exports: briefs page by page, and the matched items linked to them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Brief, Item


async def briefs_after(session: AsyncSession, after_id: int, limit: int,
                       with_items_only: bool = False) -> list[Brief]:
    """Briefs by keyset (id); optionally only those with at least one matched item."""
    query = select(Brief).where(Brief.id > after_id)
    if with_items_only:
        linked = select(Item.id).where(Item.brief_id == Brief.id, Item.status == "matched")
        query = query.where(linked.exists())
    return list(await session.scalars(query.order_by(Brief.id).limit(limit)))


async def linked_items(session: AsyncSession, brief_ids: Sequence[int]) -> dict[int, list[Item]]:
    """The matched items of these briefs, oldest first."""
    out: dict[int, list[Item]] = {brief_id: [] for brief_id in brief_ids}
    if not brief_ids:
        return out
    query = (select(Item).where(Item.brief_id.in_(list(brief_ids)), Item.status == "matched")
             .order_by(Item.id))
    for item in await session.scalars(query):
        out[item.brief_id].append(item)
    return out


async def count_briefs_with_items(session: AsyncSession) -> int:
    query = select(func.count(func.distinct(Item.brief_id))).where(
        Item.brief_id.is_not(None), Item.status == "matched")
    return await session.scalar(query) or 0
