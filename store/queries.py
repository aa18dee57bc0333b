"""Queries intake runs: items in and out of the queue, media, briefs, events, checkpoints."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import (
    Brief,
    Checkpoint,
    Event,
    Item,
    ItemMedia,
    Media,
    Outbound,
    Preference,
    utcnow,
)

RETRYABLE = "failed"


def _free(now: datetime):  # noqa: ANN202 - a SQL expression
    return or_(Item.worker_until.is_(None), Item.worker_until < now)


def _due(now: datetime, max_attempts: int):  # noqa: ANN202 - a SQL expression
    retry = (Item.status == RETRYABLE) & (Item.next_attempt_at <= now)
    return ((Item.status == "received") | retry) & (Item.attempts < max_attempts) & _free(now)


UNFINISHED = ("processing started {n} times and never finished: the process doing it stopped "
              "each time (killed, out of memory?); reprocess it after a fix")


async def give_up_unfinished(session: AsyncSession, max_attempts: int,
                             skip_types: Sequence[str] = ()) -> list[int]:
    """Fail the items whose processing was started max_attempts times and never finished.

    An item that kills its worker (memory, a crash) would otherwise be taken up again at
    every restart, and kill that one too; failed, it goes to the operators with a reason."""
    now = utcnow()
    stuck = (Item.status == "received") & (Item.attempts >= max_attempts) & _free(now)
    if skip_types:  # another process's kinds: it gives them up, and tells their senders
        stuck = stuck & Item.raw_type.not_in(list(skip_types))
    items = list(await session.scalars(select(Item).where(stuck).with_for_update(
        skip_locked=True)))
    for item in items:
        item.status, item.error = "failed", UNFINISHED.format(n=item.attempts)
        item.worker, item.worker_until, item.next_attempt_at = None, None, None
        add_event(session, "intake", "failed", item.id, error=item.error, attempt=item.attempts)
    return [item.id for item in items]


async def claim_items(
    session: AsyncSession, worker: str, limit: int, lease: timedelta, max_attempts: int,
    skip_types: Sequence[str] = (),
) -> list[int]:
    """Lease up to `limit` due items to `worker`, leaving those of `skip_types` to others;
    each claim counts as an attempt. PostgreSQL skips rows others hold; SQLite's BEGIN
    IMMEDIATE serialises claimers (SKIP LOCKED compiles to nothing there)."""
    now = utcnow()
    due = _due(now, max_attempts)
    if skip_types:
        due = due & Item.raw_type.not_in(list(skip_types))
    query = (
        select(Item.id)
        .where(due)
        .order_by(Item.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(await session.scalars(query))
    if ids:
        await session.execute(
            update(Item).where(Item.id.in_(ids)).values(
                worker=worker, worker_until=now + lease, attempts=Item.attempts + 1)
        )
    return ids


async def release_stale_leases(session: AsyncSession) -> int:
    """At start of a single-worker deployment, leases of a dead process are void."""
    result = await session.execute(
        update(Item).where(Item.worker.is_not(None)).values(worker=None, worker_until=None)
    )
    return result.rowcount or 0


async def leases_held(session: AsyncSession, prefix: str) -> list[str]:
    """Worker names holding leases that start with `prefix` (e.g. this host's)."""
    query = select(Item.worker).where(Item.worker.like(f"{prefix}%")).distinct()
    return list(await session.scalars(query))


async def release_leases(session: AsyncSession, workers: Sequence[str]) -> int:
    if not workers:
        return 0
    result = await session.execute(
        update(Item).where(Item.worker.in_(list(workers))).values(worker=None, worker_until=None)
    )
    return result.rowcount or 0


async def renew_leases(session: AsyncSession, worker: str, lease: timedelta) -> None:
    await session.execute(
        update(Item).where(Item.worker == worker).values(worker_until=utcnow() + lease)
    )


async def media_by_key(session: AsyncSession, key: str) -> Media | None:
    return await session.scalar(select(Media).where(Media.key == key))


async def upsert_media(session: AsyncSession, media: Media) -> Media:
    """One row per sha256 (or link URL), however often and by whatever channel it arrives."""
    existing = await media_by_key(session, media.key)
    if existing is not None:
        return existing
    try:
        async with session.begin_nested():
            session.add(media)
    except IntegrityError:
        existing = await media_by_key(session, media.key)
        if existing is None:
            raise
        return existing
    return media


async def link_media(
    session: AsyncSession, item_id: int, media_id: int, filename: str, declared: str | None
) -> None:
    query = select(ItemMedia.id).where(
        ItemMedia.item_id == item_id, ItemMedia.media_id == media_id, ItemMedia.filename == filename
    )
    if await session.scalar(query) is None:
        session.add(ItemMedia(item_id=item_id, media_id=media_id, filename=filename,
                              declared_type=declared))


async def media_of_items(session: AsyncSession, item_ids: Sequence[int]) -> dict[int, list]:
    rows = await session.execute(
        select(ItemMedia.item_id, ItemMedia.filename, ItemMedia.declared_type, Media)
        .join(Media, Media.id == ItemMedia.media_id)
        .where(ItemMedia.item_id.in_(list(item_ids)))
        .order_by(ItemMedia.id)
    )
    out: dict[int, list] = {i: [] for i in item_ids}
    for item_id, filename, declared, media in rows:
        out[item_id].append((filename, declared, media))
    return out


def add_event(session: AsyncSession, actor: str, action: str, item_id: int | None = None,
              brief_id: int | None = None, **detail: object) -> Event:
    event = Event(actor=actor, action=action, item_id=item_id, brief_id=brief_id, detail=detail)
    session.add(event)
    return event


def requeue_item(session: AsyncSession, item: Item, actor: str) -> None:
    """Put an item back in the queue as if it had just arrived; the event says who asked."""
    add_event(session, actor, "reprocess", item.id, before=item.status)
    item.status, item.next_attempt_at, item.attempts = "received", None, 0  # tries afresh
    item.worker, item.worker_until = None, None


def in_hand(item: Item) -> bool:
    """A worker holds the item's lease now: it is being processed."""
    return item.worker_until is not None and item.worker_until > utcnow()


async def events_of_item(session: AsyncSession, item_id: int,
                         actions: Sequence[str]) -> list[Event]:
    """The item's events of these kinds, newest first."""
    return list(await session.scalars(
        select(Event).where(Event.item_id == item_id, Event.action.in_(list(actions)))
        .order_by(Event.id.desc())))


async def all_briefs(session: AsyncSession) -> list[Brief]:
    return list(await session.scalars(select(Brief)))


async def brief_by_ref(session: AsyncSession, ref: str) -> Brief | None:
    return await session.scalar(select(Brief).where(Brief.ref == ref.upper()))


async def briefs_version(session: AsyncSession) -> str:
    """Changes whenever a brief is added or edited: the key of the matching snapshot."""
    row = (await session.execute(
        select(func.count(Brief.id), func.max(Brief.id), func.max(Brief.updated_at))
    )).one()
    return hashlib.sha256(repr(tuple(row)).encode()).hexdigest()[:16]


async def brief_records(session: AsyncSession) -> list[list]:
    """[id, ref, title, response_id, [emails and contacts]] for every brief."""
    rows = await session.execute(
        select(Brief.id, Brief.ref, Brief.title, Brief.response_id, Brief.email, Brief.contacts)
    )
    out = []
    for id_, ref, title, response_id, email, contacts in rows:
        emails = [e.lower() for e in [email, *(contacts or [])] if e]
        out.append([id_, ref, title or "", response_id, emails])
    return out


async def briefs_for_thread(session: AsyncSession, message_ids: Sequence[str]) -> list[tuple]:
    """(message id, brief id, via) for referenced messages we know: our acknowledgements, or
    items already matched."""
    if not message_ids:
        return []
    ids = list(message_ids)[:50]
    acks = await session.execute(
        select(Outbound.message_id, Outbound.brief_id)
        .where(Outbound.message_id.in_(ids), Outbound.brief_id.is_not(None))
    )
    items = await session.execute(
        select(Item.message_id, Item.brief_id)
        .where(Item.message_id.in_(ids), Item.brief_id.is_not(None),
               Item.status == "matched")
    )
    return [(m, b, "acknowledgement") for m, b in acks] + [(m, b, "item") for m, b in items]


def unmatched_ids_query() -> Select:
    return select(Item.id).where(Item.status == "unmatched").order_by(Item.id)


async def get_checkpoint(session: AsyncSession, channel: str, name: str) -> dict:
    row = await session.scalar(
        select(Checkpoint).where(Checkpoint.channel == channel, Checkpoint.name == name)
    )
    return dict(row.value) if row else {}


async def set_checkpoint(session: AsyncSession, channel: str, name: str, value: dict) -> None:
    row = await session.scalar(
        select(Checkpoint).where(Checkpoint.channel == channel, Checkpoint.name == name)
    )
    if row is None:
        session.add(Checkpoint(channel=channel, name=name, value=value))
    else:
        row.value = value


async def get_preference(session: AsyncSession, name: str) -> dict:
    row = await session.scalar(select(Preference).where(Preference.name == name))
    return dict(row.value) if row else {}


async def set_preference(session: AsyncSession, name: str, value: dict, actor: str) -> None:
    row = await session.scalar(select(Preference).where(Preference.name == name))
    if row is None:
        session.add(Preference(name=name, value=value, updated_by=actor))
    else:
        row.value, row.updated_by = value, actor


def backoff(attempts: int) -> datetime:
    """When a failed item is due again: 30 s, 1 min, 2 min … capped at one hour."""
    return datetime.now(UTC) + timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


async def list_items(
    session: AsyncSession, *, status: str | None = None, channel: str | None = None,
    brief_id: int | None = None, after_id: int = 0, limit: int = 50, newest_first: bool = False,
) -> list[Item]:
    """Items by keyset (id) pagination, oldest first unless asked otherwise."""
    query = _items_where(select(Item), status, channel, brief_id)
    if after_id:
        query = query.where(Item.id < after_id if newest_first else Item.id > after_id)
    order = Item.id.desc() if newest_first else Item.id
    return list(await session.scalars(query.order_by(order).limit(limit)))


async def count_items_after(session: AsyncSession, after_id: int, *, status: str | None = None,
                            channel: str | None = None, brief_id: int | None = None) -> int:
    """How many items list_items would still give after `after_id` (oldest first)."""
    query = _items_where(select(func.count(Item.id)), status, channel, brief_id)
    return await session.scalar(query.where(Item.id > after_id)) or 0


def _items_where(query: Select, status: str | None, channel: str | None,
                 brief_id: int | None) -> Select:
    if status:
        query = query.where(Item.status == status)
    if channel:
        query = query.where(Item.channel == channel)
    if brief_id is not None:
        query = query.where(Item.brief_id == brief_id)
    return query


async def briefs_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, Brief]:
    if not ids:
        return {}
    return {b.id: b for b in await session.scalars(select(Brief).where(Brief.id.in_(set(ids))))}


async def list_briefs(session: AsyncSession, *, after_id: int = 0, limit: int = 100) -> list[Brief]:
    query = select(Brief).where(Brief.id > after_id).order_by(Brief.id).limit(limit)
    return list(await session.scalars(query))


async def item_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = await session.execute(
        select(Item.channel, Item.status, func.count()).group_by(Item.channel, Item.status)
    )
    return {(channel, status): n for channel, status, n in rows}


async def events_of(session: AsyncSession, *, item_id: int | None = None,
                    brief_id: int | None = None, limit: int = 200) -> list[Event]:
    query = select(Event).order_by(Event.id.desc()).limit(limit)
    if item_id is not None:
        query = query.where(Event.item_id == item_id)
    if brief_id is not None:
        query = query.where(Event.brief_id == brief_id)
    return list(await session.scalars(query))
