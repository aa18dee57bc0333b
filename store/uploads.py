"""Queries of the upload page (issue 14): upload rows and the private links bound to briefs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Brief, Upload, UploadLink, utcnow

OPEN, FINISHED, ACCEPTED = "open", "finished", "accepted"
TERMINATED, EXPIRED = "terminated", "expired"


async def get_upload(session: AsyncSession, upload_id: str) -> Upload | None:
    return await session.get(Upload, upload_id)


async def confirm_offset(session: AsyncSession, upload_id: str, offset: int,
                         expires_at: datetime) -> None:
    """Record an offset whose bytes are fsync'd; an upload in use does not expire."""
    await session.execute(update(Upload).where(Upload.id == upload_id)
                          .values(offset=offset, expires_at=expires_at))


async def due_to_expire(session: AsyncSession, now: datetime, limit: int = 500) -> list[Upload]:
    query = (select(Upload).where(Upload.status == OPEN, Upload.expires_at < now)
             .limit(limit))
    return list(await session.scalars(query))


async def finished_not_accepted(session: AsyncSession, limit: int = 100) -> list[Upload]:
    return list(await session.scalars(
        select(Upload).where(Upload.status == FINISHED).limit(limit)))


async def created_since(session: AsyncSession, address: str, since: datetime) -> list[datetime]:
    """When the uploads from one client address were created since `since`, oldest first."""
    query = (select(Upload.created_at)
             .where(Upload.address == address, Upload.created_at > since)
             .order_by(Upload.created_at))
    return list(await session.scalars(query))


async def add_link(session: AsyncSession, link_id: str, brief_id: int, actor: str,
                   expires_at: datetime) -> UploadLink:
    link = UploadLink(id=link_id, brief_id=brief_id, created_by=actor[:100],
                      created_at=utcnow(), expires_at=expires_at)
    session.add(link)
    return link


async def live_link(session: AsyncSession, link_id: str) -> UploadLink | None:
    """The link if it is neither revoked nor expired."""
    link = await session.get(UploadLink, link_id)
    if link is None or link.revoked_at is not None or link.expires_at <= utcnow():
        return None
    return link


async def live_links(session: AsyncSession, brief_id: int) -> list[UploadLink]:
    query = (select(UploadLink)
             .where(UploadLink.brief_id == brief_id, UploadLink.revoked_at.is_(None),
                    UploadLink.expires_at > utcnow())
             .order_by(UploadLink.created_at.desc()))
    return list(await session.scalars(query))


async def revoke_links(session: AsyncSession, brief_id: int, link_id: str | None = None) -> int:
    """Revoke one link of the brief, or all of them; returns how many."""
    query = update(UploadLink).where(UploadLink.brief_id == brief_id,
                                     UploadLink.revoked_at.is_(None))
    if link_id is not None:
        query = query.where(UploadLink.id == link_id)
    result = await session.execute(query.values(revoked_at=utcnow()))
    return result.rowcount or 0


async def brief_id_by_ref(session: AsyncSession, ref: str) -> int | None:
    return await session.scalar(select(Brief.id).where(Brief.ref == ref))
