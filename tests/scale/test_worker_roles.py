"""Workers that run apart from the channels: what they leave to others, and database trouble."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import intake.pipeline.worker as worker_module
from channels.contract import EMAIL, TELEGRAM_UPDATE, RawItem
from intake.pipeline.accept import accept
from intake.pipeline.analyse import Analysis
from intake.pipeline.worker import Processor
from store.models import Event, Item
from tests.helpers import make_email, wait_for


def _blip() -> OperationalError:
    return OperationalError("SELECT …", {}, ConnectionResetError("server closed the connection"))


async def _item(ctx, item_id: int) -> Item:  # noqa: ANN001
    async with ctx.db.reader()() as session:
        return await session.get(Item, item_id)


async def test_a_plain_worker_leaves_telegram_updates_to_the_telegram_role(ctx):
    update = await accept(ctx, RawItem("telegram", b'{"update_id": 1}', TELEGRAM_UPDATE, "7:1"))
    mail = await accept(ctx, RawItem("smtp", make_email(), EMAIL))
    processor = Processor(ctx)
    try:
        assert await processor.drain() == 1  # the email only
        assert (await _item(ctx, mail.item_id)).status == "unmatched"
        waiting = await _item(ctx, update.item_id)
        assert (waiting.status, waiting.attempts, waiting.worker) == ("received", 0, None)

        async def analyse(processor, item, raw_path, extra, options):  # noqa: ANN001, ANN202
            return Analysis(features={}, files=[], links=[], flags=[],
                            verdict={"status": "unmatched", "candidates": [], "flags": []})

        ctx.analysers[TELEGRAM_UPDATE] = analyse  # what the telegram role installs
        assert await processor.drain() == 1
        assert (await _item(ctx, update.item_id)).status == "unmatched"
    finally:
        processor.close()


async def test_the_worker_outlives_the_database_going_away(ctx, monkeypatch):
    """A failed claim, then a batch whose verdict and failure could not be written: the loop
    goes on, the stranded lease is released, and the item is processed once in the end."""
    monkeypatch.setattr(worker_module, "POLL_SECONDS", 0.1)
    real_claim, real_save, real_fail = worker_module.claim_items, Processor._save, Processor._fail
    trouble = {"claim": 1, "save": 1, "fail": 1}

    def flaky(name, real):  # noqa: ANN001, ANN202
        async def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if trouble[name]:
                trouble[name] -= 1
                raise _blip()
            return await real(*args, **kwargs)
        return call

    monkeypatch.setattr(worker_module, "claim_items", flaky("claim", real_claim))
    monkeypatch.setattr(Processor, "_save", flaky("save", real_save))
    monkeypatch.setattr(Processor, "_fail", flaky("fail", real_fail))
    accepted = await accept(ctx, RawItem("smtp", make_email(), EMAIL))
    async with _worker_running(ctx):
        await wait_for(lambda: _unmatched(ctx, accepted.item_id), timeout=60)
        assert trouble == {"claim": 0, "save": 0, "fail": 0}
        async with ctx.db.reader()() as session:
            verdicts = list(await session.scalars(select(Event).where(
                Event.item_id == accepted.item_id, Event.actor == "intake")))
        assert [e.action for e in verdicts] == ["unmatched"]
        assert (await _item(ctx, accepted.item_id)).worker is None


async def test_the_worker_outlives_a_bug_outside_any_item(ctx, monkeypatch):
    """Not the database this time: any error between items is logged and the loop goes on,
    rather than the worker stopping for good while the rest of serve runs."""
    monkeypatch.setattr(worker_module, "POLL_SECONDS", 0.1)
    real_claim, bugs = worker_module.claim_items, [1]

    async def buggy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if bugs:
            bugs.pop()
            raise KeyError("a bug in claiming")
        return await real_claim(*args, **kwargs)

    monkeypatch.setattr(worker_module, "claim_items", buggy)
    accepted = await accept(ctx, RawItem("smtp", make_email(), EMAIL))
    async with _worker_running(ctx) as task:
        await wait_for(lambda: _unmatched(ctx, accepted.item_id), timeout=60)
        assert bugs == [] and not task.done()


@asynccontextmanager
async def _worker_running(ctx):
    """Processor.run in the background, as the worker role runs it, until the block ends."""
    processor, stop = Processor(ctx), asyncio.Event()
    task = asyncio.create_task(processor.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await task


async def _unmatched(ctx, item_id) -> bool:
    return (await _item(ctx, item_id)).status == "unmatched"
