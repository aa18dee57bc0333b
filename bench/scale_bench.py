"""Scale-out figures, side by side in one run: items per second with 1, 2 and 3 worker processes
on one PostgreSQL queue; the S3 blob store (moto server) against the filesystem one.

Run by hand (PostgreSQL at 127.0.0.1:5432 as for the tests; INTAKE_TEST_PG overrides):

    python bench/scale_bench.py [--items 600] [--workers 1,2,3] [--sizes 1,40] [--repeat 5]

Each worker process is `intake serve --only worker` with one parsing process (INTAKE_WORKERS=1),
its idle poll shortened so that all start together. Items are accepted first and held back
(leased to nobody) until every worker is up, then released at once; the clock runs from the
release to the last verdict, and every item must have exactly one verdict event.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, update  # noqa: E402

from channels.contract import EMAIL, RawItem  # noqa: E402
from intake.config import load_settings  # noqa: E402
from intake.context import build_context  # noqa: E402
from intake.pipeline.accept import accept_many  # noqa: E402
from store.blobs import FileBlobStore  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Event, Item, utcnow  # noqa: E402
from tests.conftest import PG_ADMIN, pg_admin  # noqa: E402
from tests.helpers import make_email  # noqa: E402

HELD = "bench:held"


# -- worker scaling ------------------------------------------------------------------------


def make_clip(folder: Path) -> bytes | None:
    """A real two-second H.264 clip (ffmpeg), or None without ffmpeg."""
    if not shutil.which("ffmpeg"):
        return None
    path = folder / "clip.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=10", "-t", "2", "-pix_fmt", "yuv420p",
                    str(path)], check=True)
    return path.read_bytes()


def _email(n: int, clip: bytes | None) -> bytes:
    if clip is None:  # text only: parsing, matching and the database
        return make_email(subject=f"Practice {n}", sender=f"field{n % 40}@example.org",
                          body=f"Our practice number {n}, described in a few lines.")
    # Bytes after the last box keep the clip playable and make every copy a new medium.
    video = clip + os.urandom(64)
    return make_email(subject=f"Practice video {n}", sender=f"field{n % 40}@example.org",
                      attachments=[(f"clip{n}.mp4", video, "video/mp4")])


async def _load(ctx, items: int, clip: bytes | None) -> None:  # noqa: ANN001
    for start in range(0, items, 50):
        raws = [RawItem("smtp", _email(n, clip), EMAIL)
                for n in range(start, min(items, start + 50))]
        await accept_many(ctx, raws)
    async with ctx.db.writer()() as session, session.begin():  # held: nobody may claim yet
        await session.execute(update(Item).values(worker=HELD,
                                                  worker_until=utcnow() + timedelta(hours=1)))


async def _release(ctx) -> None:  # noqa: ANN001
    async with ctx.db.writer()() as session, session.begin():
        await session.execute(update(Item).where(Item.worker == HELD)
                              .values(worker=None, worker_until=None))


async def _left(ctx) -> int:  # noqa: ANN001
    async with ctx.db.reader()() as session:
        return await session.scalar(select(func.count()).select_from(Item)
                                    .where(Item.status == "received")) or 0


async def _verdicts(ctx) -> tuple[Counter, Counter]:  # noqa: ANN001
    async with ctx.db.reader()() as session:
        events = list(await session.scalars(select(Event).where(
            Event.actor == "intake", Event.action.in_(("matched", "unmatched", "failed")))))
    return Counter(e.item_id for e in events), Counter(e.detail.get("worker") for e in events)


def _spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, __file__, "--child-worker"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


async def _ready(log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while "intake serving" not in (log.read_text(errors="replace") if log.exists() else ""):
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start: {log.read_text()[-2000:]}")
        await asyncio.sleep(0.1)


async def run_workers(processes: int, items: int, clip: bytes | None, folder: Path) -> dict:
    name = f"intake_bench_{uuid.uuid4().hex[:10]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    blobs = f"file://{folder / name / 'blobs'}"
    ctx = build_context(load_settings({}, data_dir=folder / name / "bench", database_url=url,
                                      blob_url=blobs))
    children: list[subprocess.Popen] = []
    try:
        await upgrade(ctx.db)
        await _load(ctx, items, clip)
        base = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        logs = [folder / name / f"worker{n}.log" for n in range(processes)]
        for n, log in enumerate(logs):
            env = dict(base, PYTHONPATH=str(ROOT), INTAKE_DATABASE_URL=url, INTAKE_BLOB_URL=blobs,
                       INTAKE_DATA_DIR=str(folder / name / f"w{n}"), INTAKE_WORKERS="1")
            children.append(_spawn_worker(env, log))
        for log in logs:
            await _ready(log)
        started = time.perf_counter()
        await _release(ctx)
        while await _left(ctx):
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        per_item, per_worker = await _verdicts(ctx)
        twice = sum(1 for n in per_item.values() if n != 1)
        return {"processes": processes, "items": items, "seconds": elapsed,
                "rate": items / elapsed, "twice": twice, "verdicts": len(per_item),
                "shares": sorted(per_worker.values(), reverse=True)}
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
        await ctx.close()
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child_worker() -> None:
    """One `intake serve --only worker`, polling every 0.2 s when idle (not 5 s)."""
    import intake.pipeline.worker
    from intake.ops.logs import setup_logging
    from intake.serve import serve

    intake.pipeline.worker.POLL_SECONDS = 0.2
    setup_logging(logging.INFO, False)

    async def main() -> None:
        await serve(build_context(load_settings()), ["worker"])

    asyncio.run(main())


# -- blob stores ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_moto() -> tuple[subprocess.Popen, str]:
    """moto's server in its own process (in this one it would share our GIL)."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("moto server did not start")


async def _s3_store(endpoint: str):  # noqa: ANN202
    from aiobotocore.session import get_session

    from store.s3 import S3BlobStore

    access = {"region_name": "us-east-1", "aws_access_key_id": "bench",
              "aws_secret_access_key": "bench"}
    async with get_session().create_client("s3", endpoint_url=endpoint, **access) as s3:
        await s3.create_bucket(Bucket="bench")
    store = S3BlobStore("s3://bench/blobs", endpoint_url=endpoint, region="us-east-1",
                        access_key_id="bench", secret_access_key="bench")
    await store.check()
    return store


def _spool(folder: Path, size: int) -> tuple[Path, str]:
    import hashlib

    path = Path(tempfile.mkstemp(dir=folder, prefix="spooled-")[1])
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


async def _time_store(store, folder: Path, size: int, repeat: int) -> dict:  # noqa: ANN001
    put = get = again = 0.0
    for _ in range(repeat):
        path, sha = _spool(folder, size)
        started = time.perf_counter()
        await store.put_file(path, sha)
        put += time.perf_counter() - started
        started = time.perf_counter()
        with (folder / "back").open("wb") as handle:
            async for chunk in store.stream(sha):
                handle.write(chunk)
        get += time.perf_counter() - started
        started = time.perf_counter()  # what a second copy costs: the upload is skipped
        assert await store.exists(sha)
        again += time.perf_counter() - started
    mb = size / 1e6
    return {"put_ms": put / repeat * 1000, "get_ms": get / repeat * 1000,
            "put_mbs": mb * repeat / put, "get_mbs": mb * repeat / get,
            "exists_ms": again / repeat * 1000}


async def run_blobs(sizes_mb: list[int], repeat: int, folder: Path) -> list[tuple]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server, endpoint = _start_moto()
    rows = []
    try:
        s3 = await _s3_store(endpoint)
        files = FileBlobStore(folder / "blobs")
        for size in sizes_mb:
            for label, store in (("filesystem", files), ("s3 (moto)", s3)):
                rows.append((size, label, await _time_store(store, folder, size * 1_000_000,
                                                            repeat)))
        await s3.close()
    finally:
        server.terminate()
        server.wait(30)
    return rows


# -- report --------------------------------------------------------------------------------


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=600, help="text-only emails per run")
    parser.add_argument("--video-items", type=int, default=120,
                        help="emails with a real video clip per run (0: none)")
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--sizes", default="1,40", help="blob sizes in MB")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--skip-blobs", action="store_true")
    parser.add_argument("--child-worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def _print_workers(title: str, items: int, rows: list[dict]) -> None:
    base = rows[0]["rate"]
    print(f"\nworker processes on PostgreSQL: {items} {title}")
    print(f"{'processes':>9} {'seconds':>8} {'items/s':>8} {'vs 1':>6} {'twice':>6}  "
          "items per process")
    for r in rows:
        print(f"{r['processes']:>9} {r['seconds']:>8.1f} {r['rate']:>8.1f} "
              f"{r['rate'] / base:>5.2f}x {r['twice']:>6}  {r['shares']}")


async def main(args: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}; load average "
          f"{os.getloadavg()[0]:.1f} at start (other work on the machine skews every figure)")
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        folder = Path(tmp)
        if not args.skip_workers:
            workloads = [("text-only emails", args.items, None)] if args.items else []
            clip = make_clip(folder) if args.video_items else None
            if clip:
                workloads.append((f"emails with a {len(clip) // 1000} kB H.264 clip "
                                  "(ffprobe + thumbnail each)", args.video_items, clip))
            for title, items, content in workloads:
                rows = [await run_workers(int(n), items, content, folder)
                        for n in args.workers.split(",")]
                _print_workers(title, items, rows)
        if not args.skip_blobs:
            rows = await run_blobs([int(s) for s in args.sizes.split(",")], args.repeat, folder)
            print(f"\nblob stores, {args.repeat} objects each (put_file from the spool, "
                  "streamed get, exists)")
            print(f"{'MB':>4} {'store':12} {'put ms':>8} {'put MB/s':>9} {'get ms':>8} "
                  f"{'get MB/s':>9} {'exists ms':>10}")
            for size, label, r in rows:
                print(f"{size:>4} {label:12} {r['put_ms']:>8.1f} {r['put_mbs']:>9.1f} "
                      f"{r['get_ms']:>8.1f} {r['get_mbs']:>9.1f} {r['exists_ms']:>10.2f}")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    arguments = _args()
    if arguments.child_worker:
        child_worker()
    else:
        asyncio.run(main(arguments))
