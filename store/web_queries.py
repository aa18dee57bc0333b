"""Queries of the review app: the filtered queue, dashboard counts, brief search, audit, users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, and_, cast, exists, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from store.models import Brief, Event, Item, ItemMedia, Media, User


@dataclass(frozen=True)
class QueueFilter:
    """What a coordinator narrowed the queue to; every field optional."""

    status: str = "unmatched"
    channel: str | None = None
    since: datetime | None = None  # received at or after
    until: datetime | None = None  # received before
    has_video: bool | None = None
    language: str | None = None
    flag: str | None = None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has_video():  # noqa: ANN202 - a SQL expression
    return exists().where(
        ItemMedia.item_id == Item.id, ItemMedia.media_id == Media.id, Media.kind == "video"
    )


def _has_flag(flag: str):  # noqa: ANN202
    # Flags are a JSON list on both databases; its text holds each flag as "flag". One
    # portable LIKE beats two dialects of JSON containment for a filter on a small list.
    return cast(Item.flags, String).like(f'%"{_like_escape(flag)}"%', escape="\\")


def _filtered(query, f: QueueFilter):  # noqa: ANN001, ANN202
    conditions = [
        (f.status, lambda: Item.status == f.status),
        (f.channel, lambda: Item.channel == f.channel),
        (f.since, lambda: Item.received_at >= f.since),
        (f.until, lambda: Item.received_at < f.until),
        (f.language, lambda: Item.language == f.language),
        (f.flag, lambda: _has_flag(f.flag)),
    ]
    for value, condition in conditions:
        if value:
            query = query.where(condition())
    if f.has_video is not None:
        query = query.where(_has_video() if f.has_video else ~_has_video())
    return query


async def queue_page(
    session: AsyncSession, f: QueueFilter, *, after_id: int = 0, limit: int = 50
) -> list[Item]:
    """One page of the queue, oldest first, by keyset (items with an id above `after_id`).
    The parsed features (text, headers: often tens of kB) and the source are not loaded:
    lists don't show them."""
    query = _filtered(select(Item).options(defer(Item.features), defer(Item.source)), f)
    if after_id:
        query = query.where(Item.id > after_id)
    return list(await session.scalars(query.order_by(Item.id).limit(limit)))


def is_plain(f: QueueFilter) -> bool:
    """Only a status: counted straight from the (status, id) index."""
    return f == QueueFilter(status=f.status)


async def queue_count(session: AsyncSession, f: QueueFilter, cap: int | None = None) -> int:
    """How many items match; with `cap`, counting stops past it (cap + 1 means "more"), so
    a narrow filter over a large queue costs at most `cap` rows, not all of them."""
    if cap is None:
        return await session.scalar(_filtered(select(func.count()).select_from(Item), f)) or 0
    first = _filtered(select(Item.id), f).limit(cap + 1).subquery()
    return await session.scalar(select(func.count()).select_from(first)) or 0


async def counts_by_channel_status(
    session: AsyncSession, since: datetime | None = None
) -> dict[tuple[str, str], int]:
    # count(*) grouped in index order: answered from ix_items_status_channel alone.
    query = select(Item.channel, Item.status, func.count())
    group = (Item.status, Item.channel)
    if since is not None:
        query = query.where(Item.received_at >= since)
        if session.bind.dialect.name == "sqlite":
            # Without statistics SQLite groups along ix_items_status_channel and reads every
            # row; SQLite's unary + takes that index out of play, so it reads today's rows
            # through ix_items_received_at.
            group = (literal_column("+items.status"), literal_column("+items.channel"))
    rows = await session.execute(query.group_by(*group))
    return {(channel, status): n for channel, status, n in rows}


async def oldest_of_status(session: AsyncSession, status: str) -> Item | None:
    # Ids grow with arrival, so the lowest id is the oldest, found on the (status, id) index.
    query = select(Item).where(Item.status == status).order_by(Item.id).limit(1)
    return await session.scalar(query)


async def given_up_count(session: AsyncSession, max_attempts: int) -> int:
    query = select(func.count(Item.id)).where(
        Item.status == "failed", Item.attempts >= max_attempts
    )
    return await session.scalar(query) or 0


async def search_briefs(session: AsyncSession, text: str, limit: int = 20, *,
                        codes: tuple[str, ...] = (), words: tuple[str, ...] = ()
                        ) -> list[Brief]:
    """Briefs by exact code (or one of `codes`, read by the caller) or email, by response
    id, or with a word starting with each of `words` (normalised by the caller as
    search_text is: code, title, email and names); exact hits first. When `codes` are
    given and found, nothing else is searched: the words scan every brief."""
    text = text.strip()
    if not text:
        return []
    exact = select(Brief).where(
        or_(Brief.ref.in_([text.upper(), *codes]), Brief.email == text.casefold(),
            Brief.response_id == text)
    ).order_by(Brief.id).limit(limit)
    found = list(await session.scalars(exact))
    if (codes and found) or not words:
        return found
    # every word starts a word of the brief: "diabet" finds "diabetes", "y9xtm" its code
    starts = and_(*(Brief.search_text.like(f"% {_like_escape(w)}%", escape="\\")
                    for w in words))
    contains = select(Brief).where(starts).order_by(Brief.id).limit(limit)
    seen = {b.id for b in found}
    found += [b for b in await session.scalars(contains) if b.id not in seen]
    return found[:limit]


async def brief_page(session: AsyncSession, *, after_id: int = 0, limit: int = 50) -> list[Brief]:
    query = select(Brief).where(Brief.id > after_id).order_by(Brief.id).limit(limit)
    return list(await session.scalars(query))


async def brief_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count(Brief.id))) or 0


async def item_counts_of_briefs(session: AsyncSession, brief_ids: list[int]) -> dict[int, int]:
    if not brief_ids:
        return {}
    rows = await session.execute(
        select(Item.brief_id, func.count(Item.id))
        .where(Item.brief_id.in_(brief_ids)).group_by(Item.brief_id)
    )
    return dict(rows.all())


async def event_page(
    session: AsyncSession, *, before_id: int = 0, actor: str | None = None,
    action: str | None = None, limit: int = 100,
) -> list[Event]:
    """Audit events, newest first, by keyset (ids below `before_id`)."""
    query = select(Event)
    if before_id:
        query = query.where(Event.id < before_id)
    if actor:
        query = query.where(Event.actor == actor)
    if action:
        query = query.where(Event.action == action)
    return list(await session.scalars(query.order_by(Event.id.desc()).limit(limit)))


async def media_by_sha256(session: AsyncSession, sha256: str) -> tuple[Media, str] | None:
    """The stored medium and the first filename it arrived under."""
    media = await session.scalar(select(Media).where(Media.key == f"sha256:{sha256}"))
    if media is None:
        return None
    filename = await session.scalar(
        select(ItemMedia.filename).where(ItemMedia.media_id == media.id)
        .order_by(ItemMedia.id).limit(1)
    )
    return media, filename or ""


async def user_by_name(session: AsyncSession, name: str) -> User | None:
    return await session.scalar(select(User).where(User.name == name))


async def user_by_token_hash(session: AsyncSession, token_hash: str) -> User | None:
    return await session.scalar(select(User).where(User.token_hash == token_hash))


async def all_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.name)))


async def admin_count(session: AsyncSession) -> int:
    query = select(func.count(User.id)).where(User.role == "admin", User.disabled.is_(False))
    return await session.scalar(query) or 0


async def next_open_item(session: AsyncSession, after_id: int, actor: str, now: datetime
                         ) -> int | None:
    """The oldest unmatched item after `after_id` that nobody else is reviewing right now."""
    free = or_(Item.claimed_by.is_(None), Item.claimed_by == actor, Item.claimed_until.is_(None),
               Item.claimed_until < now)
    query = select(Item.id).where(Item.status == "unmatched", Item.id > after_id, free)
    return await session.scalar(query.order_by(Item.id).limit(1))


@dataclass(frozen=True)
class BriefLabel:
    """What a list shows of a brief: its code and title (duck-types Brief for item_json)."""

    id: int
    ref: str
    title: str


async def brief_labels(session: AsyncSession, ids: list[int]) -> dict[int, BriefLabel]:
    """Code and title of each brief, without loading whole rows (survey extras can be large)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Brief.id, Brief.ref, Brief.title).where(Brief.id.in_(set(ids))))
    return {id_: BriefLabel(id_, ref, title or "") for id_, ref, title in rows}


async def refs_among(session: AsyncSession, refs: list[str]) -> list[str]:
    """Which of these codes briefs have (a bounded list: the codes one slip from another)."""
    if not refs:
        return []
    found = await session.scalars(select(Brief.ref).where(Brief.ref.in_(refs)).order_by(Brief.ref))
    return list(found)
