"""The link-fetch queue in SQL: enqueue a link medium once, claim due fetches under a lease
(SKIP LOCKED on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises claimers), record outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import ItemMedia, LinkFetch, Media, utcnow


async def enqueue_fetch(session: AsyncSession, media: Media, provider: str) -> LinkFetch:
    """The fetch of a link medium, created pending the first time the link is seen."""
    existing = await session.scalar(select(LinkFetch).where(LinkFetch.media_id == media.id))
    if existing is not None:
        return existing
    row = LinkFetch(media_id=media.id, url=media.url or "", provider=provider,
                    status="pending", attempts=0)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another worker enqueued it meanwhile
        return await session.scalar(select(LinkFetch).where(LinkFetch.media_id == media.id))
    return row


def _due(now: datetime, max_attempts: int):  # noqa: ANN202 - a SQL expression
    return (
        (LinkFetch.status == "pending")
        & (LinkFetch.attempts < max_attempts)
        & or_(LinkFetch.next_attempt_at.is_(None), LinkFetch.next_attempt_at <= now)
        & or_(LinkFetch.worker_until.is_(None), LinkFetch.worker_until < now)
    )


async def claim_fetches(session: AsyncSession, worker: str, limit: int, lease: timedelta,
                        max_attempts: int) -> list[int]:
    """Lease up to `limit` due fetches to `worker`; each claim counts as an attempt."""
    now = utcnow()
    query = (select(LinkFetch.id).where(_due(now, max_attempts)).order_by(LinkFetch.id)
             .limit(limit).with_for_update(skip_locked=True))
    ids = list(await session.scalars(query))
    if ids:
        await session.execute(update(LinkFetch).where(LinkFetch.id.in_(ids)).values(
            worker=worker, worker_until=now + lease, attempts=LinkFetch.attempts + 1))
    return ids


async def unfinished_fetches(session: AsyncSession, max_attempts: int) -> list[LinkFetch]:
    """Fetches started max_attempts times whose last worker died with them in hand."""
    now = utcnow()
    query = (select(LinkFetch).where(
        LinkFetch.status == "pending", LinkFetch.attempts >= max_attempts,
        or_(LinkFetch.worker_until.is_(None), LinkFetch.worker_until < now))
        .with_for_update(skip_locked=True).limit(100))
    return list(await session.scalars(query))


async def renew_fetch_leases(session: AsyncSession, worker: str, lease: timedelta) -> None:
    await session.execute(update(LinkFetch).where(LinkFetch.worker == worker).values(
        worker_until=utcnow() + lease))


async def release_fetch_leases(session: AsyncSession, workers: Sequence[str] | None) -> int:
    """Leases of dead workers (None: every lease, for a single-process SQLite deployment)."""
    query = update(LinkFetch).where(LinkFetch.worker.is_not(None))
    if workers is not None:
        if not workers:
            return 0
        query = query.where(LinkFetch.worker.in_(list(workers)))
    result = await session.execute(query.values(worker=None, worker_until=None))
    return result.rowcount or 0


async def fetch_leases_held(session: AsyncSession, prefix: str) -> list[str]:
    query = select(LinkFetch.worker).where(LinkFetch.worker.like(f"{prefix}%")).distinct()
    return list(await session.scalars(query))


def fetch_backoff(attempts: int) -> datetime:
    """A provider that failed to answer is asked again in 1, 2, 4 … minutes, at most 6 h."""
    return datetime.now(UTC) + timedelta(seconds=min(6 * 3600, 60 * 2 ** max(0, attempts - 1)))


async def pending_among(session: AsyncSession, fetch_ids: Sequence[int]) -> set[int]:
    """Which of these fetches are still pending."""
    query = select(LinkFetch.id).where(LinkFetch.id.in_(list(fetch_ids)),
                                       LinkFetch.status == "pending")
    return set(await session.scalars(query))


async def items_carrying(session: AsyncSession, media_id: int) -> list[int]:
    query = select(ItemMedia.item_id).where(ItemMedia.media_id == media_id).distinct()
    return list(await session.scalars(query))


async def fetch_of_media(session: AsyncSession, media_id: int) -> LinkFetch | None:
    return await session.scalar(select(LinkFetch).where(LinkFetch.media_id == media_id))


async def fetch_counts(session: AsyncSession) -> dict[tuple[str, str, str], int]:
    """(provider, status, reason or "") → fetches, for /metrics."""
    rows = await session.execute(
        select(LinkFetch.provider, LinkFetch.status, LinkFetch.reason, func.count())
        .group_by(LinkFetch.provider, LinkFetch.status, LinkFetch.reason))
    return {(p, s, r or ""): n for p, s, r, n in rows}


async def list_fetches(session: AsyncSession, status: str | None = None, after_id: int = 0,
                       limit: int = 100) -> list[LinkFetch]:
    query = select(LinkFetch).where(LinkFetch.id > after_id)
    if status:
        query = query.where(LinkFetch.status == status)
    return list(await session.scalars(query.order_by(LinkFetch.id).limit(limit)))


async def item_has_pending_fetch(session: AsyncSession, item_id: int) -> bool:
    query = (select(LinkFetch.id).join(ItemMedia, ItemMedia.media_id == LinkFetch.media_id)
             .where(ItemMedia.item_id == item_id, LinkFetch.status == "pending").limit(1))
    return await session.scalar(query) is not None
