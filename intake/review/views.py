"""Read models shared by the CLI's --json and the web app: items and briefs as plain dicts."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect

from channels.contract import EMAIL
from intake.context import Context
from intake.review.search import query_terms
from parsers.links import embed_url
from store.models import Brief, Item
from store.queries import (
    brief_by_ref,
    briefs_by_ids,
    count_items_after,
    events_of,
    list_briefs,
    list_items,
    media_of_items,
)
from store.web_queries import (
    QueueFilter,
    brief_count,
    brief_labels,
    brief_page,
    counts_by_channel_status,
    event_page,
    given_up_count,
    is_plain,
    item_counts_of_briefs,
    media_by_sha256,
    next_open_item,
    oldest_of_status,
    queue_count,
    queue_page,
    search_briefs,
)


def media_json(filename: str, declared: str | None, media) -> dict:  # noqa: ANN001
    return {
        "id": media.id,
        "sha256": media.sha256,
        "kind": media.kind,
        "mime": media.mime,
        "size": media.size,
        "filename": filename,
        "declared_type": declared,
        "url": media.url if media.kind == "link" else f"/media/{media.sha256}",
        "flags": list(media.flags or []),
        "details": dict(media.details or {}),
        "thumbnail": (f"/media/{media.sha256}/thumbnail"
                      if (media.details or {}).get("thumbnail_sha256") else None),
        # YouTube or Vimeo: their own player, loaded only when a coordinator asks for it.
        "embed": embed_url(media.url) if media.kind == "link" and media.url else None,
    }


def item_json(item: Item, refs: dict[int, Brief], media: list) -> dict:
    brief = refs.get(item.brief_id) if item.brief_id else None
    return {
        "id": item.id,
        "channel": item.channel,
        "status": item.status,
        "brief_ref": brief.ref if brief else None,
        "brief_title": brief.title if brief else None,
        "rule": item.rule,
        "confidence": item.confidence,
        "flags": list(item.flags or []),
        "sender": item.sender,
        "subject": item.subject or _chat_subject(item),
        "received_at": item.received_at.isoformat() if item.received_at else None,
        "processed_at": item.processed_at.isoformat() if item.processed_at else None,
        "error": item.error,
        "attempts": item.attempts,
        "language": item.language,
        "claimed_by": item.claimed_by,
        "claimed_until": item.claimed_until.isoformat() if item.claimed_until else None,
        "media": [media_json(*m) for m in media],
        "candidates": [
            {**c, "brief_ref": refs[c["brief_id"]].ref if c["brief_id"] in refs else None,
             "brief_title": refs[c["brief_id"]].title if c["brief_id"] in refs else None}
            for c in item.candidates or []
        ],
    }


def _chat_subject(item: Item) -> str | None:
    """A chat message has no subject: the first line of its text or caption stands in."""
    if item.raw_type == EMAIL or "features" in inspect(item).unloaded:
        # An email without one says so ("(no subject)"); the queue's pages leave the
        # features unloaded on purpose (tens of kB each).
        return item.subject
    for line in ((item.features or {}).get("text") or "").splitlines():
        if line.strip():
            return line.strip()[:200]
    return item.subject


def brief_json(brief: Brief) -> dict:
    return {
        "id": brief.id, "ref": brief.ref, "response_id": brief.response_id,
        "title": brief.title, "email": brief.email, "name": brief.name,
        "organisation": brief.organisation, "country": brief.country, "level": brief.level,
        "summary": brief.summary, "language": brief.language, "source": brief.source,
        "submitted_at": brief.submitted_at, "contacts": list(brief.contacts or []),
    }


async def items_view(ctx: Context, **filters) -> list[dict]:  # noqa: ANN003
    async with ctx.db.reader()() as session:
        items = await list_items(session, **filters)
        return await _with_relations(session, items)


async def items_after(ctx: Context, after_id: int, **filters) -> int:  # noqa: ANN003
    """How many items (status, channel filters) come after `after_id`: the rest of a page."""
    async with ctx.db.reader()() as session:
        return await count_items_after(session, after_id, **filters)


async def _with_relations(session, items: list[Item],  # noqa: ANN001
                          load_briefs=briefs_by_ids) -> list[dict]:  # noqa: ANN001
    """Items as JSON with their briefs, candidates' briefs and media; lists load the
    briefs by code and title only (brief_labels)."""
    ids = {i.brief_id for i in items if i.brief_id}
    ids |= {c["brief_id"] for i in items for c in (i.candidates or [])}
    refs = await load_briefs(session, list(ids))
    media = await media_of_items(session, [i.id for i in items])
    return [item_json(i, refs, media[i.id]) for i in items]


async def item_view(ctx: Context, item_id: int) -> dict | None:
    async with ctx.db.reader()() as session:
        item = await session.get(Item, item_id)
        if item is None:
            return None
        [data] = await _with_relations(session, [item])
        data["text"] = (item.features or {}).get("text", "")
        data["source"] = item.source
        data["events"] = [_event_json(e) for e in await events_of(session, item_id=item_id)]
        return data


def _event_json(event) -> dict:  # noqa: ANN001
    return {"id": event.id, "at": event.at.isoformat(), "actor": event.actor,
            "action": event.action, "item_id": event.item_id, "brief_id": event.brief_id,
            "detail": event.detail}


async def briefs_view(ctx: Context, after_id: int = 0, limit: int = 100_000) -> list[dict]:
    async with ctx.db.reader()() as session:
        return [brief_json(b) for b in await list_briefs(session, after_id=after_id, limit=limit)]


async def brief_view(ctx: Context, ref: str) -> dict | None:
    async with ctx.db.reader()() as session:
        brief = await brief_by_ref(session, ref)
        if brief is None:
            return None
        data = brief_json(brief)
        items = await list_items(session, brief_id=brief.id, limit=10_000)
        data["items"] = await _with_relations(session, items)
        data["events"] = [_event_json(e) for e in await events_of(session, brief_id=brief.id)]
        return data


# -- the review app's reads -----------------------------------------------------------------


COUNT_CAP = 500  # a filtered queue says "500+" rather than read every row to count them


async def queue_view(ctx: Context, filters: QueueFilter, after_id: int = 0,
                     limit: int = 50) -> dict:
    """One keyset page of items matching the filters, oldest first. The first page also
    says how many match: exact for a whole status; for narrower filters at most COUNT_CAP,
    with total_capped set past it. Later pages leave total None: it was on the first."""
    async with ctx.db.reader()() as session:
        items = await queue_page(session, filters, after_id=after_id, limit=limit + 1)
        more = len(items) > limit
        items = items[:limit]
        cap = None if is_plain(filters) else COUNT_CAP
        total = None if after_id else await queue_count(session, filters, cap)
        return {
            "items": await _with_relations(session, items, brief_labels),
            "next_after": items[-1].id if more else None,
            "total": min(total, cap) if cap and total is not None else total,
            "total_capped": bool(cap and total is not None and total > cap),
        }


def _table(counts: dict[tuple[str, str], int]) -> dict:
    by_status: dict[str, int] = {}
    by_channel: dict[str, dict[str, int]] = {}
    for (channel, status), n in counts.items():
        by_status[status] = by_status.get(status, 0) + n
        by_channel.setdefault(channel, {})[status] = n
    return {"by_status": by_status, "by_channel": by_channel, "total": sum(counts.values())}


async def dashboard_view(ctx: Context) -> dict:
    """What is waiting: counts by status and channel (today in UTC and all time), the oldest
    unmatched item, and failures."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with ctx.db.reader()() as session:
        oldest = await oldest_of_status(session, "unmatched")
        failed = await queue_page(session, QueueFilter(status="failed"), limit=5)
        data = {
            "today": _table(await counts_by_channel_status(session, since=today)),
            "all_time": _table(await counts_by_channel_status(session)),
            "oldest_unmatched": None,
            "given_up": await given_up_count(session, ctx.settings.max_attempts),
            "recent_failures": [{"id": i.id, "channel": i.channel, "error": i.error,
                                 "attempts": i.attempts} for i in failed],
        }
    if oldest is not None:
        age = datetime.now(UTC) - oldest.received_at
        data["oldest_unmatched"] = {"id": oldest.id, "received_at": oldest.received_at.isoformat(),
                                    "age_seconds": int(age.total_seconds())}
    return data


async def brief_search_view(ctx: Context, text: str, limit: int = 20) -> list[dict]:
    """Briefs by code (read as leniently as matching reads mail), email, response id, or
    words of their title, names and email, accents and case folded, matched on word starts."""
    codes, words = query_terms(text, ctx.settings.ref_prefix)
    async with ctx.db.reader()() as session:
        found = await search_briefs(session, text, limit, codes=tuple(codes), words=tuple(words))
        return [brief_json(b) for b in found]


async def brief_list_view(ctx: Context, after_id: int = 0, limit: int = 50) -> dict:
    """One keyset page of briefs with how many items each has."""
    async with ctx.db.reader()() as session:
        briefs = await brief_page(session, after_id=after_id, limit=limit + 1)
        more = len(briefs) > limit
        briefs = briefs[:limit]
        counts = await item_counts_of_briefs(session, [b.id for b in briefs])
        return {
            "briefs": [{**brief_json(b), "items": counts.get(b.id, 0)} for b in briefs],
            "next_after": briefs[-1].id if more else None,
            "total": await brief_count(session),
        }


async def events_view(ctx: Context, before_id: int = 0, actor: str | None = None,
                      action: str | None = None, limit: int = 100) -> dict:
    """The audit log, newest first, by keyset."""
    async with ctx.db.reader()() as session:
        events = await event_page(session, before_id=before_id, actor=actor, action=action,
                                  limit=limit + 1)
    more = len(events) > limit
    events = events[:limit]
    return {"events": [_event_json(e) for e in events],
            "next_before": events[-1].id if more else None}


async def media_view(ctx: Context, sha256: str) -> dict | None:
    """How to serve a stored medium: its sniffed type, kind, size and first filename."""
    async with ctx.db.reader()() as session:
        found = await media_by_sha256(session, sha256)
    if found is None:
        return None
    media, filename = found
    return {"sha256": sha256, "kind": media.kind, "mime": media.mime, "size": media.size,
            "filename": filename, "thumbnail_sha256": (media.details or {}).get(
                "thumbnail_sha256")}


async def next_item_id(ctx: Context, after_id: int, actor: str) -> int | None:
    """The next unmatched item for `actor` after `after_id`, wrapping round to the oldest."""
    async with ctx.db.reader()() as session:
        now = datetime.now(UTC)
        found = await next_open_item(session, after_id, actor, now)
        if found is None and after_id:
            found = await next_open_item(session, 0, actor, now)
        return found
