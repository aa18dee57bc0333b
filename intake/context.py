"""The running application's parts, built once in main() and passed to whatever needs them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from intake.config import Settings
from intake.ops.metrics import Metrics
from store.blobs import BlobStore, open_blob_store
from store.db import Database, open_database

log = logging.getLogger(__name__)

AfterProcess = Callable[["Context", int], Awaitable[None]]
AfterFetch = Callable[["Context", int], Awaitable[None]]


@dataclass
class Context:
    """Settings, database, blob store, and the hooks that run after an item is processed."""

    settings: Settings
    db: Database
    blobs: BlobStore
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Called with each item id after its verdict is written (acknowledgements, chat replies).
    after_process: list[AfterProcess] = field(default_factory=list)
    # Called with a medium's id when a file arrives after its item was processed (the file
    # behind a link, fetched later): video details.
    after_fetch: list[AfterFetch] = field(default_factory=list)
    # Analysers by raw content type, beyond email (the Telegram channel adds its own).
    analysers: dict[str, Callable] = field(default_factory=dict)
    # What this process measures itself (processing times), for /metrics.
    metrics: Metrics = field(default_factory=Metrics)

    async def close(self) -> None:
        closer = getattr(self.blobs, "close", None)  # the S3 store holds an HTTP client
        if closer is not None:
            await closer()
        await self.db.dispose()


def build_context(settings: Settings) -> Context:
    from intake.review.search import watch_briefs  # issue 12: briefs' search text

    watch_briefs()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    s3 = {
        "endpoint_url": settings.s3_endpoint_url,
        "region": settings.s3_region,
        "access_key_id": settings.s3_access_key_id,
        "secret_access_key": settings.s3_secret_access_key.get_secret_value(),
    }
    blob_options = s3 if settings.effective_blob_url.startswith("s3://") else {}
    return Context(
        settings=settings,
        db=open_database(settings.effective_database_url),
        blobs=open_blob_store(settings.effective_blob_url, **blob_options),
    )
