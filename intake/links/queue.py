"""Which link media are fetched: every shared-file link, never a hosted video (YouTube, Vimeo)."""

from __future__ import annotations

from parsers.providers import provider_for
from store.links import enqueue_fetch
from store.models import LinkFetch, Media


async def queue_link(session, media: Media) -> LinkFetch | None:  # noqa: ANN001
    """The fetch of a link medium, pending unless it is one that stays a link."""
    provider = provider_for(media.url or "")
    if not provider.fetched:
        return None
    return await enqueue_fetch(session, media, provider.name)
