"""Telegram intake throughput vs python-telegram-bot with a no-op handler, one fake Bot API.

Run by hand:  python bench/telegram_bench.py [--count N] [--rounds R] [--data-dir /dev/shm]
Both bots poll the same local fake server. The clock starts when N text updates are queued
on a bot that is already polling and stops when the last one is done: for PTB, when its
no-op handler saw it; for intake, when Telegram was told it is stored (the offset moved past
it, which intake allows only after accept committed it). Prints updates per second for both,
their ratio (target: intake/PTB >= 0.5), and intake's end-to-end rate (stored, analysed and
matched by the worker) for the same updates.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application, TypeHandler  # noqa: E402

from intake.config import load_settings  # noqa: E402
from intake.context import build_context  # noqa: E402
from intake.serve import serve  # noqa: E402
from store.models import Item  # noqa: E402
from tests.telegram import updates as tg  # noqa: E402
from tests.telegram.fake_api import FakeBotApi  # noqa: E402


def queue(fake: FakeBotApi, count: int) -> int:
    """N text messages from 50 people; returns the last update id."""
    last = 0
    for number in range(count):
        sender = tg.user(10_000 + number % 50)
        last = fake.push(tg.update(text=f"Practice note number {number}", sender=sender))
    return last


async def until(check, timeout: float = 600.0, interval: float = 0.005) -> None:
    deadline = time.perf_counter() + timeout
    while not await check():
        if time.perf_counter() > deadline:
            raise TimeoutError("the bot did not finish in time")
        await asyncio.sleep(interval)


async def ptb_no_op(fake: FakeBotApi, count: int) -> float:
    """PTB the way its docs suggest, handler doing nothing: updates per second."""
    seen = 0

    async def no_op(update: Update, context) -> None:  # noqa: ANN001
        nonlocal seen
        seen += 1

    app = (Application.builder().token(fake.token).base_url(f"{fake.url}/bot")
           .base_file_url(f"{fake.url}/file/bot").build())
    app.add_handler(TypeHandler(Update, no_op))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(timeout=25)
    await until(lambda: _polling(fake))
    started = time.perf_counter()
    queue(fake, count)

    async def done() -> bool:
        return seen >= count

    await until(done)
    elapsed = time.perf_counter() - started
    await app.updater.stop()
    await app.stop()
    await app.shutdown()
    return count / elapsed


async def _polling(fake: FakeBotApi) -> bool:
    return "getUpdates" in fake.calls


async def intake_run(fake: FakeBotApi, count: int, data: Path, database_url: str,
                     roles: list[str], workers: int = 1) -> float:
    """`intake serve` with these roles; updates per second until each is acknowledged
    (and, with the worker, processed)."""
    settings = load_settings({}, data_dir=data, database_url=database_url,
                             telegram_token=fake.token, telegram_api_url=fake.url,
                             smtp_enabled=False, web_enabled=False, workers=workers)
    ctx = build_context(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(ctx, roles, stop))
    await until(lambda: _polling(fake))
    async with ctx.db.reader()() as session:
        before = await session.scalar(select(func.max(Item.id))) or 0
    started = time.perf_counter()
    last = queue(fake, count)

    async def stored() -> bool:
        return fake.confirmed > last

    async def processed() -> bool:
        async with ctx.db.reader()() as session:
            left = await session.scalar(
                select(func.count()).where(Item.id > before, Item.status == "received"))
            total = await session.scalar(select(func.count()).where(Item.id > before))
        return total >= count and left == 0

    await until(stored)
    if "worker" in roles:
        await until(processed, interval=0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return count / elapsed


async def main(count: int, rounds: int, where: str | None, e2e: int, workers: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    ptb, ours, whole = [], [], []
    with tempfile.TemporaryDirectory(prefix="tg-bench-", dir=where) as tmp:
        for number in range(rounds):
            for run in ("ptb", "intake", "e2e"):
                # A database of its own per run: the fake numbers its updates from 1 again.
                url = f"sqlite+aiosqlite:///{tmp}/{run}{number}.db"
                fake = await FakeBotApi().start()
                try:
                    if run == "ptb":
                        ptb.append(await ptb_no_op(fake, count))
                    elif run == "intake":
                        ours.append(await intake_run(fake, count, Path(tmp) / f"i{number}",
                                                     url, ["telegram"]))
                    else:
                        whole.append(await intake_run(fake, e2e, Path(tmp) / f"e{number}",
                                                      url, ["worker", "telegram"], workers))
                finally:
                    await fake.stop()
            print(f"round {number + 1}: PTB no-op {ptb[-1]:8.0f}/s   intake stored "
                  f"{ours[-1]:8.0f}/s   intake processed {whole[-1]:6.1f}/s", flush=True)
    a, b = statistics.median(ptb), statistics.median(ours)
    print(f"\n{count} text updates, median of {rounds} rounds "
          f"(SQLite, data in {where or 'the temp folder'}):")
    print(f"  python-telegram-bot, no-op handler : {a:8.0f} updates/s")
    print(f"  intake, stored before acknowledged : {b:8.0f} updates/s")
    print(f"  ratio intake/PTB                   : {b / a:8.2f}  (target >= 0.5)")
    print(f"  intake end to end, {e2e} updates, {workers} worker process(es): "
          f"{statistics.median(whole):.1f} updates/s (stored, analysed, matched, reply owed)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", help="where data goes (e.g. /dev/shm: no disk cost)")
    parser.add_argument("--e2e", type=int, default=300, help="updates for the end-to-end run")
    parser.add_argument("--workers", type=int, default=1, help="INTAKE_WORKERS for it")
    options = parser.parse_args()
    asyncio.run(main(options.count, options.rounds, options.data_dir, options.e2e,
                     options.workers))
