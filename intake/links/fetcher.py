"""The link fetcher of a worker process: a few loops that claim due link fetches, fetch each
into the blob store, and record a file medium tied to the link, or the reason it failed."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from intake.context import Context
from intake.links.client import Limits, open_session
from intake.links.errors import FetchFailed
from intake.links.fetch import Fetched, fetch
from intake.links.partial import partial_ids
from intake.review.actions import Conflict, NotFound
from store.links import (
    claim_fetches,
    enqueue_fetch,
    fetch_backoff,
    fetch_leases_held,
    fetch_of_media,
    items_carrying,
    pending_among,
    release_fetch_leases,
    renew_fetch_leases,
    unfinished_fetches,
)
from store.models import LinkFetch, Media, utcnow
from store.queries import add_event, link_media, upsert_media

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # renewed every HEARTBEAT_SECONDS while the fetch runs
HEARTBEAT_SECONDS = 30.0
POLL_SECONDS = 2.0


class LeaseLost(Exception):
    """Another worker took the fetch up: its outcome stands."""


def limits_of(ctx: Context) -> Limits:
    s = ctx.settings
    return Limits(max_bytes=s.link_max_bytes, connect_timeout=s.link_connect_timeout,
                  read_timeout=s.link_read_timeout, allow_private=s.link_allow_private)


def summary(row: LinkFetch, sha256: str | None = None, kind: str | None = None) -> dict:
    """What the link medium's details say of its fetch (the review app and replies read it)."""
    return {"status": row.status, "reason": row.reason, "provider": row.provider,
            "size": row.size, "sha256": sha256, "kind": kind, "attempts": row.attempts,
            "fetched_at": row.fetched_at.isoformat() if row.fetched_at else None,
            "error": row.error}


class LinkFetcher:
    """Fetches links with at most INTAKE_LINK_CONCURRENCY at once in this process."""

    def __init__(self, ctx: Context) -> None:
        from intake.pipeline.worker import worker_name

        self.ctx = ctx
        self.name = worker_name()
        self.limits = limits_of(ctx)
        self.wake = asyncio.Event()

    # -- the loops ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self._release_dead()
        async with open_session(self.limits) as session:
            loops = [asyncio.create_task(self._loop(session, stop), name=f"link-fetch-{n}")
                     for n in range(self.ctx.settings.link_concurrency)]
            heartbeat = asyncio.create_task(self._heartbeat(stop), name="link-lease-heartbeat")
            try:
                await asyncio.gather(*loops)
            finally:
                heartbeat.cancel()

    async def _loop(self, session, stop: asyncio.Event) -> None:  # noqa: ANN001
        while not stop.is_set():
            try:
                done = await self.run_once(session)
            except (SQLAlchemyError, OSError):
                log.warning("database trouble while fetching links; trying again", exc_info=True)
                done = 0
            except Exception:  # a bug must not end link fetching while serve runs on
                log.exception("the link fetcher failed outside any one fetch")
                done = 0
            if not done:
                self.wake.clear()
                await _wait_any(stop, self.wake, POLL_SECONDS)

    async def _release_dead(self) -> None:
        from intake.pipeline.worker import dead_on_this_host

        async with self.ctx.db.writer()() as session, session.begin():
            if self.ctx.db.is_sqlite:  # one process only: every lease is a dead one's
                released = await release_fetch_leases(session, None)
            else:
                host = self.name.partition(":")[0]
                dead = dead_on_this_host(await fetch_leases_held(session, f"{host}:"))
                released = await release_fetch_leases(session, dead)
        if released:
            log.info("released %d link fetches leased by a process that died", released)
        await asyncio.to_thread(sweep_spool, self._spool())
        await self._sweep_partials()

    async def _sweep_partials(self) -> None:
        """Remove the checkpointed partial files of fetches that are no longer pending."""
        found = await asyncio.to_thread(partial_ids, self._spool())
        if not found:
            return
        async with self.ctx.db.reader()() as db:
            pending = await pending_among(db, list(found))
        for fetch_id in set(found) - pending:
            for path in found[fetch_id]:
                path.unlink(missing_ok=True)

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                async with self.ctx.db.writer()() as session, session.begin():
                    await renew_fetch_leases(session, self.name, LEASE)
            except (SQLAlchemyError, OSError):
                log.warning("could not renew link fetch leases; trying again", exc_info=True)

    async def run_once(self, session) -> int:  # noqa: ANN001 - an aiohttp ClientSession
        """Claim one due fetch and do it; 0 when none is due."""
        async with self.ctx.db.writer()() as db, db.begin():
            await self._give_up(db)
            ids = await claim_fetches(db, self.name, 1, LEASE, self.ctx.settings.link_attempts)
        for fetch_id in ids:
            await self.fetch_one(session, fetch_id)
        return len(ids)

    async def _give_up(self, db) -> None:  # noqa: ANN001
        """A fetch whose every attempt died with its worker fails, rather than wait for ever."""
        for row in await unfinished_fetches(db, self.ctx.settings.link_attempts):
            row.status, row.reason = "failed", "provider_error"
            row.error = f"the fetch was started {row.attempts} times and never finished"
            row.worker, row.worker_until = None, None
            await self._mirror(db, row, None)
            log.error("link %s: %s", row.url, row.error)

    async def drain(self) -> int:
        """Fetch until nothing is due (CLI and tests)."""
        total = 0
        async with open_session(self.limits) as session:
            while count := await self.run_once(session):
                total += count
        return total

    # -- one fetch ------------------------------------------------------------------------

    async def fetch_one(self, session, fetch_id: int) -> str:  # noqa: ANN001
        """Fetch a claimed link; returns the status recorded (or "superseded")."""
        async with self.ctx.db.reader()() as db:
            row = await db.get(LinkFetch, fetch_id)
        started = time.monotonic()
        try:
            try:
                fetched = await fetch(session, row.url, self._spool(), self.limits,
                                      key=str(fetch_id),
                                      every=self.ctx.settings.link_checkpoint_bytes)
            except FetchFailed as exc:
                return await self._failed(fetch_id, exc)
            except (OSError, ValueError) as exc:  # the spool or a bad answer: kept as a reason
                log.exception("link fetch %s failed", fetch_id)
                return await self._failed(fetch_id, FetchFailed("provider_error", repr(exc)))
            await self.ctx.blobs.put_file(fetched.path, fetched.sha256)
            status, media_id = await self._fetched(fetch_id, fetched)
        except LeaseLost:
            log.warning("link fetch %s: lease ran out and another worker took it; this "
                        "outcome is dropped", fetch_id)
            return "superseded"
        self.ctx.metrics.observe_link_fetch(row.provider, "fetched", "", fetched.size,
                                            time.monotonic() - started)
        await self._after_fetch(media_id)
        return status

    async def _after_fetch(self, media_id: int) -> None:
        for hook in self.ctx.after_fetch:  # video details: the fetch is recorded already
            try:
                await hook(self.ctx, media_id)
            except Exception:  # a hook's failure leaves the fetched file as it is
                log.exception("after-fetch hook %r failed for medium %s", hook, media_id)

    def _spool(self) -> Path:
        return self.ctx.settings.spool_dir / "links"

    async def _held(self, db, fetch_id: int) -> LinkFetch:  # noqa: ANN001
        row = await db.get(LinkFetch, fetch_id, with_for_update=True)
        if row.worker != self.name:
            raise LeaseLost(fetch_id)
        return row

    async def _fetched(self, fetch_id: int, fetched: Fetched) -> tuple[str, int]:
        async with self.ctx.db.writer()() as db, db.begin():
            row = await self._held(db, fetch_id)
            media = await upsert_media(db, Media(
                key=f"sha256:{fetched.sha256}", sha256=fetched.sha256, kind=fetched.kind,
                mime=fetched.mime, size=fetched.size, flags=list(fetched.flags), details={}))
            for item_id in await items_carrying(db, row.media_id):
                await link_media(db, item_id, media.id, fetched.filename, None)
                add_event(db, "intake", "link_fetched", item_id, url=row.url,
                          provider=row.provider, size=fetched.size, sha256=fetched.sha256)
            row.status, row.reason, row.error = "fetched", None, None
            row.size, row.file_media_id, row.fetched_at = fetched.size, media.id, utcnow()
            row.worker, row.worker_until, row.next_attempt_at = None, None, None
            await self._mirror(db, row, fetched.sha256, fetched.kind)
        log.info("link %s: fetched %d bytes (%s, sha256 %s)", row.url, fetched.size,
                 fetched.mime, fetched.sha256[:12])
        return "fetched", media.id

    async def _failed(self, fetch_id: int, exc: FetchFailed) -> str:
        async with self.ctx.db.writer()() as db, db.begin():
            row = await self._held(db, fetch_id)
            again = exc.retryable and row.attempts < self.ctx.settings.link_attempts
            row.status = "pending" if again else "failed"
            row.reason, row.error = exc.reason, str(exc)[:4000]
            row.next_attempt_at = fetch_backoff(row.attempts) if again else None
            row.worker, row.worker_until = None, None
            await self._mirror(db, row, None)
            for item_id in await items_carrying(db, row.media_id):
                add_event(db, "intake", "link_failed", item_id, url=row.url,
                          provider=row.provider, reason=exc.reason, retry=again)
        log.warning("link %s: %s (%s)%s", row.url, exc.reason, exc,
                    "; tried again later" if again else "")
        self.ctx.metrics.observe_link_fetch(row.provider, "failed", exc.reason, 0, None)
        return row.status

    async def _mirror(self, db, row: LinkFetch, sha256: str | None,  # noqa: ANN001
                      kind: str | None = None) -> None:
        link = await db.get(Media, row.media_id, with_for_update=True)
        link.details = {**(link.details or {}), "fetch": summary(row, sha256, kind)}

    # -- by hand --------------------------------------------------------------------------

    async def request_again(self, media_id: int, actor: str) -> LinkFetch:
        """Put a link's fetch back in the queue, as new (a coordinator's "fetch again")."""
        async with self.ctx.db.writer()() as db, db.begin():
            link = await db.get(Media, media_id)
            if link is None or link.kind != "link":
                raise NotFound(f"no link medium {media_id}")
            row = await enqueue_fetch(db, link, _provider_name(link.url or ""))
            if row.worker_until is not None and row.worker_until > utcnow():
                raise Conflict(f"link {media_id} is being fetched right now")
            row.status, row.attempts, row.next_attempt_at = "pending", 0, None
            row.reason, row.error = None, None
            await db.flush()
            await self._mirror(db, row, None)
            for item_id in await items_carrying(db, media_id):
                add_event(db, actor, "link_fetch_again", item_id, url=row.url)
        self.wake.set()
        return row

    async def fetch_now(self, media_id: int, actor: str) -> LinkFetch:
        """Fetch a link here and now (the CLI): queue it afresh, claim it, fetch it."""
        row = await self.request_again(media_id, actor)
        async with self.ctx.db.writer()() as db, db.begin():
            claimed = await db.get(LinkFetch, row.id, with_for_update=True)
            claimed.worker, claimed.worker_until = self.name, utcnow() + LEASE
            claimed.attempts += 1
        async with open_session(self.limits) as session:
            await self.fetch_one(session, row.id)
        async with self.ctx.db.reader()() as db:
            return await fetch_of_media(db, media_id)


def sweep_spool(spool: Path) -> int:
    """Remove the partial files of fetchers that died (named link-<pid>-…) on this host."""
    from intake.pipeline.worker import pid_alive

    removed = 0
    for path in spool.glob("link-*-*"):
        pid = path.name.split("-")[1]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _provider_name(url: str) -> str:
    from parsers.providers import provider_for

    return provider_for(url).name


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def start_link_fetcher(ctx: Context, stack) -> LinkFetcher | None:  # noqa: ANN001
    """The fetcher as a task of the worker role (INTAKE_LINK_FETCH), stopped before it ends."""
    if not ctx.settings.link_fetch:
        return None
    fetcher = LinkFetcher(ctx)
    stop = asyncio.Event()
    task = asyncio.create_task(fetcher.run(stop), name="link-fetcher")

    async def finish() -> None:
        stop.set()
        task.cancel()  # a fetch in hand is cut: its lease lapses and it is done again
        await asyncio.gather(task, return_exceptions=True)
        async with ctx.db.writer()() as session, session.begin():
            await release_fetch_leases(session, [fetcher.name])  # due again at once

    stack.push_async_callback(finish)
    return fetcher
