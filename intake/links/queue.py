"""Which link media are fetched: every shared-file link, never a hosted video (YouTube, Vimeo)."""

from __future__ import annotations

from datetime import datetime

from parsers.providers import provider_for
from store.links import enqueue_fetch, item_has_pending_fetch
from store.models import LinkFetch, Media, utcnow

# An acknowledgement waits this long for the item's links to be fetched, so it can say
# "we have your video (312 MB)" or why not; after that it goes out saying just the link.
ACK_WAIT_SECONDS = 300.0


async def queue_link(session, media: Media) -> LinkFetch | None:  # noqa: ANN001
    """The fetch of a link medium, pending unless it is one that stays a link."""
    provider = provider_for(media.url or "")
    if not provider.fetched:
        return None
    return await enqueue_fetch(session, media, provider.name)


async def ack_hold(ctx, item_id: int | None, owed_at: datetime) -> float:  # noqa: ANN001
    """Seconds an acknowledgement of the item should still wait for its links (0: none)."""
    left = ACK_WAIT_SECONDS - (utcnow() - owed_at).total_seconds()
    if item_id is None or left <= 0 or not ctx.settings.link_fetch:
        return 0.0
    async with ctx.db.reader()() as session:
        return left if await item_has_pending_fetch(session, item_id) else 0.0
