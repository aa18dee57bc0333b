"""Processing: claim received items, analyse them in a process pool, store media and verdict."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import socket
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import undefer

from channels.contract import EMAIL, TELEGRAM_UPDATE, WHATSAPP_EVENT
from intake.context import Context
from intake.links.queue import queue_link
from intake.pipeline.analyse import Analysis, MatchOptions, SpooledFile, analyse_email, rematch
from intake.pipeline.pool import watch_parent
from intake.pipeline.waiting import wait_any
from intake.review.actions import Conflict, NotFound, tell_submitter
from parsers.email import header_references
from parsers.policy import DEFAULT_POLICY
from store.blobs import local_path
from store.models import Item, Media, utcnow
from store.queries import (
    add_event,
    backoff,
    brief_records,
    briefs_for_thread,
    briefs_version,
    claim_items,
    give_up_unfinished,
    in_hand,
    leases_held,
    link_media,
    release_leases,
    release_stale_leases,
    renew_leases,
    requeue_item,
    unmatched_ids_query,
    upsert_media,
)

log = logging.getLogger(__name__)

# A claim is a lease, renewed while the worker lives: items of a worker that died go back
# to the queue within LEASE (at once for a dead process on this host, see _release_dead).
LEASE = timedelta(minutes=2)
HEARTBEAT_SECONDS = 30.0
POLL_SECONDS = 5.0
ROLE_ANALYSED = (TELEGRAM_UPDATE, WHATSAPP_EVENT)  # analysed only where their role runs


class LeaseLost(Exception):
    """Another worker took the item up (this one's lease ran out): its result stands."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_on_this_host(names: list[str]) -> list[str]:
    dead = []
    for name in names:
        _host, _, rest = name.partition(":")
        pid = rest.partition(":")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            dead.append(name)
    return dead


class Processor:
    """Turns received items into matched, unmatched or failed ones; one per process."""

    def __init__(self, ctx: Context, processes: int | None = None) -> None:
        self.ctx = ctx
        self.name = worker_name()
        self.processes = processes or ctx.settings.workers
        self._pool: ProcessPoolExecutor | None = None
        self._snapshot: tuple[str, str] | None = None
        self._snapshot_lock = asyncio.Lock()
        self._stranded = False  # a batch failed on the database: release our leases first

    # -- the pool -------------------------------------------------------------------------

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # "spawn", not fork: a forked child inherits the SMTP and web listening sockets,
            # and after a crash of this process it would keep port 8025 bound and
            # accept connections nobody answers.
            self._pool = ProcessPoolExecutor(max_workers=self.processes,
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=watch_parent, initargs=(os.getpid(),))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def in_pool(self, func, *args):  # noqa: ANN001, ANN202
        """Run a picklable function in the parsing pool: parsing never runs on the loop."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool(), func, *args)
        except BrokenProcessPool:
            # A worker died (out of memory, a crash in a C extension): start a new pool for
            # the next item and let this one be recorded as failed with the reason.
            self._pool = None
            raise

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Process due items until `stop` is set; wakes on accept or every few seconds."""
        await self._release_dead()
        # Start the parsing processes now: the first item should not wait for them.
        await asyncio.get_running_loop().run_in_executor(self.pool(), _warm_up)
        heartbeat = asyncio.create_task(self._heartbeat(stop), name="lease-heartbeat")
        try:
            while not stop.is_set():
                if not await self._run_once_safely():
                    self.ctx.wake.clear()
                    await wait_any(stop, self.ctx.wake, POLL_SECONDS)
        finally:
            heartbeat.cancel()
            self.close()

    async def _release_dead(self) -> None:
        """Free the leases of a previous run that crashed, so its items go on at once."""
        async with self.ctx.db.writer()() as session, session.begin():
            if self.ctx.db.is_sqlite:  # one worker only: every lease is a dead one's
                released = await release_stale_leases(session)
            else:
                host = self.name.partition(":")[0]
                dead = dead_on_this_host(await leases_held(session, f"{host}:"))
                released = await release_leases(session, dead)
        if released:
            log.info("released %d items leased by a process that died", released)

    async def _run_once_safely(self) -> int:
        """run_once, surviving the database restarting (or failing over) under it."""
        try:
            if self._stranded:
                # A batch that failed half-way left leases the heartbeat would renew for
                # ever; nothing is in hand between batches, so let them go back to the queue.
                async with self.ctx.db.writer()() as session, session.begin():
                    await release_leases(session, [self.name])
                self._stranded = False
            return await self.run_once()
        except (SQLAlchemyError, OSError):
            self._stranded = True
            log.warning("database trouble while processing; trying again shortly", exc_info=True)
            return 0
        except Exception:  # a bug must not stop the worker for good while serve runs on
            self._stranded = True
            log.exception("the worker failed outside any one item; trying again shortly")
            return 0

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                async with self.ctx.db.writer()() as session, session.begin():
                    await renew_leases(session, self.name, LEASE)
            except (SQLAlchemyError, OSError):
                # One failed renewal must not stop the next ones: the leases would lapse
                # and other workers would take items still in hand.
                log.warning("could not renew leases; trying again", exc_info=True)

    async def run_once(self, limit: int | None = None) -> int:
        """Claim and process one batch; returns how many items were processed."""
        limit = limit or self.processes * 2
        max_attempts = self.ctx.settings.max_attempts
        async with self.ctx.db.writer()() as session, session.begin():
            if given_up := await give_up_unfinished(session, max_attempts, self._others()):
                log.error("items %s: processing started %d times and never finished; failed",
                          given_up, max_attempts)
            ids = await claim_items(session, self.name, limit, LEASE, max_attempts,
                                    skip_types=self._others())
        for item_id in given_up:  # its sender hears that a person will look at it
            await self._after_verdict(item_id)
        # Every item finishes (or fails) before an error is raised: none is left in hand.
        results = await asyncio.gather(*(self.process(item_id) for item_id in ids),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(ids)

    def _others(self) -> list[str]:
        # Kinds whose analyser comes with a role this process does not run: a worker started
        # with --only worker leaves Telegram updates to the process running the telegram
        # role, rather than failing them with "no analyser".
        return [kind for kind in ROLE_ANALYSED if kind not in self.ctx.analysers]

    async def drain(self) -> int:
        """Process until nothing is due (CLI and tests)."""
        total = 0
        while count := await self.run_once():
            total += count
        return total

    # -- one item -------------------------------------------------------------------------

    async def process(self, item_id: int) -> str:
        started = time.monotonic()
        async with self.ctx.db.reader()() as session:
            item = await session.get(Item, item_id, options=[undefer(Item.raw_inline)])
        try:
            try:
                analysis = await self._analyse(item)
                await self.store_files(analysis.files)
                status = await self._save(item_id, analysis)
            except LeaseLost:
                raise
            except Exception as exc:  # any failure is recorded with its reason and retried
                log.exception("item %s failed", item_id)
                status = await self._fail(item_id, exc)
        except LeaseLost:
            log.warning("item %s: this worker's lease ran out and another took the item up; "
                        "its result stands, this one is dropped", item_id)
            return "superseded"
        self.ctx.metrics.observe_processing(status, time.monotonic() - started)
        await self._after_verdict(item_id)
        return status

    async def _after_verdict(self, item_id: int) -> None:
        for hook in self.ctx.after_process:
            try:
                await hook(self.ctx, item_id)
            except Exception:  # a failed notification must not undo the verdict
                log.exception("after-process hook %s failed for item %s", hook, item_id)

    async def _analyse(self, item: Item) -> Analysis:
        # Bytes accept kept in the row go to the blob store first (fsync'd): _save then
        # clears the row's copy, so at rest every raw item is a blob, as any other.
        if item.raw_inline is not None and (
                await self.ctx.blobs.put_bytes(item.raw_inline) != item.raw_sha256):
            raise ValueError(f"the bytes kept for item {item.id} do not match their hash")
        async with local_path(self.ctx.blobs, item.raw_sha256,
                              self.ctx.settings.spool_dir) as raw_path:
            extra = await self.context_candidates(item, raw_path)
            options = await self.match_options()
            spool = str(self.ctx.settings.spool_dir)
            if item.raw_type == EMAIL:
                sender = item.source.get("mail_from")
                return await self.in_pool(analyse_email, str(raw_path), item.channel,
                                          sender, spool, extra, options)
            analyser = self.ctx.analysers.get(item.raw_type)
            if analyser is None:
                raise ValueError(f"no analyser for {item.raw_type}")
            return await analyser(self, item, raw_path, extra, options)

    async def context_candidates(self, item: Item, raw_path: Path | None = None) -> list[dict]:
        """Candidates only the database knows: replies in a thread we know of."""
        references = list(item.features.get("references", [])) if item.features else []
        if not references and raw_path is not None and item.raw_type == EMAIL:
            references = await asyncio.to_thread(_header_references, raw_path)
        async with self.ctx.db.reader()() as session:
            found = await briefs_for_thread(session, references)
        return [
            {"brief_id": brief_id, "confidence": DEFAULT_POLICY.thread, "rule": "thread",
             "evidence": f"reply to {via} <{mid}>"}
            for mid, brief_id, via in found
        ]

    async def match_options(self) -> MatchOptions:
        settings = self.ctx.settings
        return MatchOptions(
            index_path=await self._brief_snapshot(),
            prefix=settings.ref_prefix,
            response_id_pattern=settings.response_id_pattern,
            title_threshold=settings.title_threshold,
            title_margin=settings.title_margin,
        )

    async def _brief_snapshot(self) -> str:
        """A JSON file of every brief, rewritten when briefs change; workers cache its index."""
        async with self._snapshot_lock:
            async with self.ctx.db.reader()() as session:
                version = await briefs_version(session)
                if self._snapshot and self._snapshot[0] == version:
                    return self._snapshot[1]
                records = await brief_records(session)
            path = self.ctx.settings.data_dir / "cache" / f"briefs-{version}.json"
            await asyncio.to_thread(_write_snapshot, path, records)
            self._snapshot = (version, str(path))
            return str(path)

    async def store_files(self, files: list[SpooledFile]) -> None:
        """Move spooled files into the blob store (fsync'd) before any row names them."""
        for spooled in files:
            await self.ctx.blobs.put_file(Path(spooled.path), spooled.sha256)

    async def _save(self, item_id: int, analysis: Analysis) -> str:
        verdict = analysis.verdict
        async with self.ctx.db.writer()() as session, session.begin():
            item = await self._held(session, item_id)
            await self.link_files(session, item_id, analysis)
            item.raw_inline = None  # _analyse put it in the blob store
            features = analysis.features
            item.features = features
            item.sender = features.get("sender")
            item.subject = (features.get("subject") or "")[:2000]
            item.language = features.get("language")
            apply_verdict(item, verdict, analysis.flags)
            item.error, item.worker, item.worker_until = None, None, None
            item.processed_at = utcnow()
            add_event(session, "intake", item.status, item_id, verdict.get("brief_id"),
                      rule=verdict.get("rule"), confidence=verdict.get("confidence"),
                      worker=self.name)
            return item.status

    async def link_files(self, session, item_id: int, analysis: Analysis) -> None:  # noqa: ANN001
        """Record the files and links found as media of the item (one medium per sha256/URL)."""
        for spooled in analysis.files:
            media = await upsert_media(session, Media(
                key=f"sha256:{spooled.sha256}", sha256=spooled.sha256, kind=spooled.kind,
                mime=spooled.mime, size=spooled.size, flags=spooled.flags, details={},
            ))
            await link_media(session, item_id, media.id, spooled.filename, spooled.declared_type)
        for url in analysis.links:
            media = await upsert_media(session, Media(
                key=f"link:{url}"[:2100], kind="link", url=url, flags=[], details={}))
            await link_media(session, item_id, media.id, "", None)
            if self.ctx.settings.link_fetch:
                await queue_link(session, media)  # issue #13: the file behind it is fetched

    async def _held(self, session, item_id: int) -> Item:  # noqa: ANN001
        """The item, locked, if this worker still holds its lease; LeaseLost otherwise."""
        item = await session.get(Item, item_id, with_for_update=True)
        if item.worker != self.name:
            raise LeaseLost(item_id)
        return item

    async def _fail(self, item_id: int, exc: BaseException) -> str:
        reason = f"{type(exc).__name__}: {exc}"[:4000]
        async with self.ctx.db.writer()() as session, session.begin():
            item = await self._held(session, item_id)
            item.status = "failed"
            item.error = reason  # the claim counted the attempt
            item.next_attempt_at = backoff(item.attempts)
            item.worker, item.worker_until = None, None
            add_event(session, "intake", "failed", item_id, error=reason, attempt=item.attempts,
                      worker=self.name)
        return "failed"

    async def reprocess(self, item_id: int, actor: str) -> str:
        """Run an item through processing again here and now, by hand (after a fix, or to
        re-match); returns its new status. An item of a kind this process has no analyser
        for (a Telegram update, without the telegram role) goes back to the queue for the
        process that has one, and "received" is returned."""
        async with self.ctx.db.writer()() as session, session.begin():
            item = await session.get(Item, item_id)
            if item is None:
                raise NotFound(f"no item {item_id}")
            if in_hand(item):
                raise Conflict(f"item {item_id} is being processed right now")
            if item.raw_type in self._others():
                requeue_item(session, item, actor)
                return "received"
            add_event(session, actor, "reprocess", item_id, before=item.status)
            item.worker, item.worker_until = self.name, utcnow() + LEASE
            item.attempts = 1  # tries afresh; this is the first
        return await self.process(item_id)

    # -- re-matching ----------------------------------------------------------------------

    async def rematch_unmatched(self, batch: int = 200) -> int:
        """Match every unmatched item again (new briefs may now fit); returns how many matched."""
        matched, last_id = 0, 0
        while True:
            async with self.ctx.db.reader()() as session:
                query = unmatched_ids_query().where(Item.id > last_id).limit(batch)
                ids = list(await session.scalars(query))
            if not ids:
                return matched
            for item_id in ids:
                matched += await self._rematch_one(item_id)
            last_id = ids[-1]

    async def _rematch_one(self, item_id: int) -> int:
        async with self.ctx.db.reader()() as session:
            item = await session.get(Item, item_id)
        if not item.features:
            return 0
        extra = await self.context_candidates(item)
        verdict = await self.in_pool(rematch, item.features, extra, await self.match_options())
        async with self.ctx.db.writer()() as session, session.begin():
            item = await session.get(Item, item_id)
            if item.status != "unmatched":  # a coordinator settled it meanwhile
                return 0
            apply_verdict(item, verdict, [f for f in item.flags if f not in verdict["flags"]])
            if item.status == "matched":
                add_event(session, "intake", "rematched", item_id, item.brief_id,
                          rule=item.rule, confidence=item.confidence)
                await tell_submitter(self.ctx, session, item, "intake")
                return 1
        return 0


def apply_verdict(item: Item, verdict: dict, flags: list[str]) -> None:
    """Write a verdict (status, brief, rule, confidence, candidates) and flags on the item."""
    item.status = verdict["status"]
    item.brief_id = verdict.get("brief_id")
    item.rule = verdict.get("rule")
    item.confidence = verdict.get("confidence")
    item.candidates = verdict.get("candidates", [])
    item.flags = sorted(set(flags) | set(verdict.get("flags", [])))


def _header_references(raw_path: Path) -> list[str]:
    with raw_path.open("rb") as handle:
        return header_references(handle.read(256 * 1024))


def _warm_up() -> None:
    import intake.pipeline.analyse  # noqa: F401 - load the parsers and matching in the child


def _write_snapshot(path: Path, records: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # workers sharing a data folder
    tmp.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    for old in path.parent.glob("briefs-*.json"):
        if old != path:
            old.unlink(missing_ok=True)
