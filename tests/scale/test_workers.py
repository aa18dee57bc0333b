"""Three worker processes on one PostgreSQL queue: 1,000 items, each processed exactly once."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from channels.contract import EMAIL, RawItem
from intake.context import build_context
from intake.pipeline.accept import accept_many
from store.migrate import upgrade
from store.models import Event, Item
from tests.conftest import make_settings
from tests.helpers import make_email, wait_for
from tests.scale.procs import child_env, kill, says, serve, terminate

ITEMS, WORKERS, BATCH = 1000, 3, 50
VERDICTS = ("matched", "unmatched", "failed")


async def _undecided(ctx) -> int:  # noqa: ANN001
    async with ctx.db.reader()() as session:
        return await session.scalar(select(func.count()).select_from(Item)
                                    .where(Item.status == "received")) or 0


async def _verdict_events(ctx) -> list[Event]:  # noqa: ANN001
    async with ctx.db.reader()() as session:
        return list(await session.scalars(
            select(Event).where(Event.actor == "intake", Event.action.in_(VERDICTS))))


async def test_three_workers_process_each_item_exactly_once(tmp_path, pg_url):
    blobs = f"file://{tmp_path / 'blobs'}"
    ctx = build_context(make_settings(tmp_path, pg_url, blob_url=blobs))
    await upgrade(ctx.db)
    logs = [tmp_path / f"worker{n}.log" for n in range(WORKERS)]
    # Each worker has its own data folder (spool, snapshot cache), as each container would.
    workers = [serve("worker", child_env(INTAKE_DATABASE_URL=pg_url, INTAKE_BLOB_URL=blobs,
                                         INTAKE_DATA_DIR=str(tmp_path / f"w{n}")), log)
               for n, log in enumerate(logs)]
    try:
        for log in logs:
            await wait_for(lambda log=log: _ready(log), timeout=60)
        for start in range(0, ITEMS, BATCH):  # through the front door, as a channel would
            await accept_many(ctx, [RawItem("smtp", make_email(subject=f"practice {n}"), EMAIL)
                                    for n in range(start, start + BATCH)])
        await wait_for(lambda: _none_left(ctx), timeout=600, interval=0.5)
        events = await _verdict_events(ctx)
        per_item = Counter(e.item_id for e in events)
        async with ctx.db.reader()() as session:
            ids = set(await session.scalars(select(Item.id)))
        assert len(ids) == ITEMS
        assert set(per_item) == ids
        assert [i for i, n in per_item.items() if n != 1] == []  # none processed twice
        assert not [e for e in events if e.action == "failed"], events[:3]
        by_worker = Counter(e.detail["worker"] for e in events)
        assert len(by_worker) == WORKERS, by_worker  # all three took part
        for log, worker in zip(logs, workers, strict=True):
            assert await terminate(worker) == 0, log.read_text()[-3000:]
    finally:
        kill(workers)
        await ctx.close()


async def _ready(log) -> bool:  # noqa: ANN001
    return says(log, "intake serving: worker")


async def _none_left(ctx) -> bool:  # noqa: ANN001
    return await _undecided(ctx) == 0

