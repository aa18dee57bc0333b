"""A 1 GiB file is fetched with bounded memory: the fetching process's RSS rises by a few
MiB, not by the file (the server runs in a process of its own, generating the bytes)."""

import asyncio
import hashlib
import subprocess
import sys
import threading
import time

import psutil

from intake.links.client import Limits, open_session
from intake.links.fetch import fetch
from tests.helpers import wait_for
from tests.links.providers import mp4
from tests.telegram.conftest import free_port

GIB = 1 << 30
BLOCK = mp4(1 << 20, seed=b"big")  # 1 MiB that starts like an MP4; the file is 1024 of them
SERVER = """
import sys
from aiohttp import web

block = open(sys.argv[2], "rb").read()

async def big(request):
    response = web.StreamResponse(headers={"Content-Type": "video/mp4", "ETag": '"big"'})
    response.content_length = len(block) * 1024
    await response.prepare(request)
    for _ in range(1024):
        await response.write(block)
    return response

app = web.Application()
app.router.add_get("/big.mp4", big)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def _peak_rss_during(stop: threading.Event, found: list[int]) -> None:
    me = psutil.Process()
    while not stop.is_set():
        found.append(me.memory_info().rss)
        time.sleep(0.005)


async def test_a_gigabyte_is_fetched_with_bounded_memory(tmp_path):
    port, block = free_port(), tmp_path / "block"
    block.write_bytes(BLOCK)
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(block)])
    limits = Limits(max_bytes=2 * GIB, connect_timeout=10, read_timeout=60,
                    allow_private=True)  # the server is on loopback
    try:
        async with open_session(limits) as session:
            async def up():
                try:
                    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    return False
                writer.close()
                return True
            await wait_for(up, timeout=30)
            before = psutil.Process().memory_info().rss
            stop, samples = threading.Event(), []
            sampler = threading.Thread(target=_peak_rss_during, args=(stop, samples))
            sampler.start()
            try:
                fetched = await fetch(session, f"http://127.0.0.1:{port}/big.mp4",
                                      tmp_path / "spool", limits, key="1")
            finally:
                stop.set()
                sampler.join()
    finally:
        server.terminate()
        server.wait()
    expected = hashlib.sha256()
    for _ in range(1024):
        expected.update(BLOCK)
    assert (fetched.size, fetched.sha256, fetched.kind) == (GIB, expected.hexdigest(), "video")
    assert fetched.path.stat().st_size == GIB
    added = max(samples) - before
    assert added < 64 << 20, f"the fetch added {added / 2**20:.1f} MiB of RSS for a 1 GiB file"
