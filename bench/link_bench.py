"""Link fetching: 1 GB from a loopback HTTP server, our fetcher against `curl -o` of the same
URL in the same run (throughput ratio, target ≥ 0.8×), and the peak RSS the fetch adds to
the fetching process (target ≤ 64 MB).

`curl -o` neither hashes nor fsyncs. Three more baselines in the same run show what that
costs on this machine: `curl -o` followed by `openssl dgst -sha256` of the file (C tools
doing the work the fetcher does, one after the other), hashlib's sha256 over the same
number of bytes in memory (the fetcher's floor: it hashes every byte it writes), and
`curl -o` followed by an fsync of its file (the disk's floor: the fetcher keeps its bytes
durable, curl leaves them in the page cache).

The file server runs in its own process (aiohttp FileResponse, sendfile). The fetch runs in
a child process that measures its own peak RSS (getrusage) before and after the fetch,
which includes the sha256 on the fly, the spool file and the move into a file blob store.

Each round runs `curl -o`, our fetch, `curl -o` again, and takes the better curl: the
shared machine drifts, so each ratio compares runs seconds apart; the median is reported.
The other baselines run once, after the rounds, against the last round's fetch.

    python bench/link_bench.py [--mb 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _serve(folder: str, port: int) -> None:
    from aiohttp import web

    async def clip(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(Path(folder) / "clip.mp4", chunk_size=1 << 20,
                                headers={"Content-Type": "video/mp4"})

    app = web.Application()
    app.router.add_get("/clip.mp4", clip)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _fetch(url: str, folder: str) -> None:
    from intake.links.client import Limits, open_session
    from intake.links.fetch import fetch
    from store.blobs import FileBlobStore

    async def go() -> dict:
        limits = Limits(max_bytes=8 << 30, connect_timeout=10, read_timeout=60,
                        allow_private=True)  # the bench server is on loopback
        blobs = FileBlobStore(Path(folder) / "blobs")
        async with open_session(limits) as session:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            # As the worker fetches: checkpoints (an fsync) every 64 MiB.
            fetched = await fetch(session, url, Path(folder) / "spool", limits, key="1")
            seconds = time.perf_counter() - started
            await blobs.put_file(fetched.path, fetched.sha256)  # fsync: curl does none
            stored = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"seconds": seconds, "stored": stored, "size": fetched.size,
                "added_rss_kb": after - before, "kind": fetched.kind}

    print(json.dumps(asyncio.run(go())))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _make_file(path: Path, mb: int) -> None:
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        out.write(head + block[len(head):])
        for _ in range(mb - 1):
            out.write(block)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the file server did not start")


def _curl(url: str, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", "-o", str(target), url], check=True)
    return time.perf_counter() - started


def _curl_once(url: str, target: Path) -> float:
    """curl -o, its file removed after: seconds."""
    try:
        return _curl(url, target)
    finally:
        target.unlink(missing_ok=True)


def _curl_and_sync(url: str, target: Path) -> float:
    """curl -o, then an fsync of what it wrote: the floor for any fetch that keeps its
    promise of durability before it says "stored" (page cache speed is not disk speed)."""
    started = time.perf_counter()
    _curl(url, target)
    with target.open("rb") as written:
        os.fsync(written.fileno())
    return time.perf_counter() - started


def _curl_and_digest(url: str, target: Path) -> float:
    started = time.perf_counter()
    _curl(url, target)
    subprocess.run(["openssl", "dgst", "-sha256", str(target)], check=True, capture_output=True)
    return time.perf_counter() - started


def _hash_only(size: int) -> float:
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    started = time.perf_counter()
    for _ in range(size >> 20):
        digest.update(block)
    return time.perf_counter() - started


def _ours(url: str, folder: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--fetch", url, str(folder)], env=env,
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--fetch", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return _serve(args.serve[0], int(args.serve[1]))
    if args.fetch:
        return _fetch(*args.fetch)
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed: no baseline")
    with tempfile.TemporaryDirectory(prefix="link-bench-") as tmp:
        folder = Path(tmp)
        _make_file(folder / "clip.mp4", args.mb)
        port = _free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", tmp, str(port)])
        try:
            _wait_listening(port)
            url = f"http://127.0.0.1:{port}/clip.mp4"
            size = args.mb << 20
            rounds = []  # (best curl -o either side of ours, ours): the machine drifts
            for _ in range(args.rounds):
                before = _curl_once(url, folder / "curl.out")
                os.sync()  # neither side pays for the other's writeback
                run = _ours(url, folder)
                os.sync()
                assert run["size"] == size and run["kind"] == "video", run
                rounds.append((min(before, _curl_once(url, folder / "curl.out")), run))
            same_work = _curl_and_digest(url, folder / "curl.out")
            (folder / "curl.out").unlink()
            durable = _curl_and_sync(url, folder / "curl.out")
            hash_only = _hash_only(size)
        finally:
            server.terminate()
            server.wait()
    print(f"file            {args.mb} MiB over loopback HTTP, {args.rounds} rounds")
    for n, (baseline, run) in enumerate(rounds, 1):
        print(f"round {n}: curl -o {size / baseline / 1e6:7.1f} MB/s ({baseline:.2f} s)  "
              f"intake {size / run['seconds'] / 1e6:7.1f} MB/s ({run['seconds']:.2f} s, "
              f"{run['stored']:.2f} s into the blob store)  ratio "
              f"{baseline / run['seconds']:.2f}×  RSS +{run['added_rss_kb'] / 1024:.1f} MB")
    ratios = sorted(baseline / run["seconds"] for baseline, run in rounds)
    ours = rounds[-1][1]  # the fetch that ran just before the baselines below
    print(f"ratio           median {statistics.median(ratios):.2f}×, "
          f"{ratios[0]:.2f}–{ratios[-1]:.2f}×  (target ≥ 0.8×)")
    print(f"curl -o + openssl {size / same_work / 1e6:8.1f} MB/s  ({same_work:.2f} s)"
          f"  ratio {same_work / ours['seconds']:.2f}×  (the same work in C, one after the other)")
    print(f"curl -o + fsync {size / durable / 1e6:8.1f} MB/s  ({durable:.2f} s)"
          f"  ratio {durable / ours['stored']:.2f}×  (curl made durable, as our store is)")
    print(f"sha256 alone    {size / hash_only / 1e6:8.1f} MB/s  ({hash_only:.2f} s)"
          f"  ratio {hash_only / ours['seconds']:.2f}×  (hashlib in memory: the fetcher's floor)")
    most = max(run["added_rss_kb"] for _, run in rounds)
    print(f"peak RSS added  {most / 1024:8.1f} MB at most  (target ≤ 64 MB)")


if __name__ == "__main__":
    main()
