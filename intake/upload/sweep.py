"""Housekeeping of uploads: remove the unfinished ones that expired, hand finished ones on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from channels.contract import TryLater
from intake.upload import spool
from intake.upload.service import Uploads
from store.models import utcnow
from store.uploads import EXPIRED, OPEN, due_to_expire, finished_not_accepted, get_upload

log = logging.getLogger(__name__)
EVERY_SECONDS = 600.0


async def expire(uploads: Uploads, now: datetime | None = None) -> int:
    """Remove the spool files of open uploads past their expiry; returns how many."""
    now = now or utcnow()
    ctx = uploads.ctx
    async with ctx.db.reader()() as session:
        due = await due_to_expire(session, now)
    removed = 0
    for upload in due:
        if upload.id in uploads.locks:  # being written right now: not idle
            continue
        async with ctx.db.writer()() as session, session.begin():
            row = await get_upload(session, upload.id)
            if row.status != OPEN or row.expires_at >= now:
                continue
            row.status = EXPIRED
        await asyncio.to_thread(spool.remove, uploads.path(upload.id))
        uploads.hashes.pop(upload.id, None)
        removed += 1
    if removed:
        log.info("removed %d unfinished uploads that expired", removed)
    return removed


async def hand_on(uploads: Uploads) -> int:
    """Accept finished uploads whose accept failed before (the database was away)."""
    async with uploads.ctx.db.reader()() as session:
        waiting = await finished_not_accepted(session)
    done = 0
    for upload in waiting:
        try:
            await uploads.finish(upload)
            done += 1
        except TryLater:
            log.warning("upload %s: accept refused it again; later", upload.id)
    return done


async def run(uploads: Uploads, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await expire(uploads)
            await hand_on(uploads)
        except Exception:  # housekeeping must outlive one bad round
            log.exception("upload housekeeping failed; next round in %ss", EVERY_SECONDS)
        with contextlib.suppress(TimeoutError):  # the wait is the round's pause
            await asyncio.wait_for(stop.wait(), EVERY_SECONDS)
