"""A big upload over loopback with tuspy (a real tus client) against `intake serve --only web`,
against a plain file copy of the same size in the same run; and the server's peak RSS added.

The file is sent in PATCHes of 64 MiB (tuspy reads a whole chunk into memory: its default,
unbounded, would hold the file); the server confirms (fsync, then the row) every 16 MiB.
The copy baseline is `shutil.copyfile` + fsync of the same source to the same disk. RSS is
sampled every 5 ms over the server process tree, less its RSS before the upload.

    python bench/upload_bench.py [--mb 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _servers import start_intake  # noqa: E402
from memory_bench import Sampler  # noqa: E402
from tusclient import client as tus_client  # noqa: E402

MB = 1_000_000


def make_source(path: Path, size: int) -> str:
    digest, block = hashlib.sha256(), os.urandom(4 * MB)
    with path.open("wb") as handle:
        left = size
        while left:
            piece = block[: min(left, len(block))]
            handle.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def plain_copy(source: Path, target: Path) -> float:
    start = time.perf_counter()
    shutil.copyfile(source, target)
    with target.open("rb+") as handle:
        os.fsync(handle.fileno())
    return time.perf_counter() - start


async def make_token(data_dir: Path) -> str:
    from intake.config import load_settings
    from intake.context import build_context
    from intake.upload.links import new_link, signer_for
    from parsers.refcode import new_code
    from store.models import Brief

    ctx = build_context(load_settings({}, data_dir=data_dir))
    try:
        async with ctx.db.writer()() as session, session.begin():
            brief = Brief(ref=new_code(), title="bench")
            session.add(brief)
        return await new_link(ctx, signer_for(ctx), brief.id, "bench")
    finally:
        await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=2000)
    args = parser.parse_args()
    size = args.mb * MB
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp)
        source = root / "source.bin"
        make_source(source, size)
        copy_seconds = plain_copy(source, root / "copy.bin")
        (root / "copy.bin").unlink()
        data_dir = root / "data"
        data_dir.mkdir()
        process, _smtp, web = start_intake(data_dir, "web", INTAKE_SMTP_ENABLED="false",
                                           INTAKE_UPLOAD_MIN_FREE_BYTES="0")
        try:
            token = asyncio.run(make_token(data_dir))
            sampler = Sampler(process.pid)
            sampler.start()
            start = time.perf_counter()
            uploader = tus_client.TusClient(f"http://127.0.0.1:{web}/tus/").uploader(
                file_path=str(source), chunk_size=64 << 20,
                metadata={"filename": "big.mp4", "token": token})
            uploader.upload()
            upload_seconds = time.perf_counter() - start
            sampler.running = False
            sampler.join()
        finally:
            process.terminate()
            process.wait(60)
    added = (sampler.peak - sampler.base) / MB
    print(f"size {args.mb} MB")
    print(f"plain copy + fsync   {copy_seconds:6.2f} s  {size / MB / copy_seconds:7.1f} MB/s")
    print(f"tus upload (tuspy)   {upload_seconds:6.2f} s  {size / MB / upload_seconds:7.1f} MB/s")
    print(f"ratio upload/copy    {upload_seconds / copy_seconds:6.2f}")
    print(f"server peak RSS added {added:.1f} MB (target <= 64 MB)")


if __name__ == "__main__":
    main()
