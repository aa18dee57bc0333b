"""A worker killed with SIGKILL leaves no parsing process behind: each one notices its parent
is gone and ends itself."""

import os
import signal
import subprocess
import sys

import psutil

from tests.helpers import wait_for
from tests.scale.procs import ROOT, child_env

WORKER = """
import asyncio, os, signal, sys
from intake.config import load_settings
from intake.context import build_context
from intake.pipeline.worker import Processor

async def main():
    ctx = build_context(load_settings({}, data_dir=sys.argv[1], database_url=""))
    processor = Processor(ctx, processes=2)
    pids = {await processor.in_pool(os.getpid) for _ in range(8)}
    print(" ".join(map(str, sorted(pids))), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no shutdown of the pool, as the OOM killer does

asyncio.run(main())
"""


async def test_parsing_processes_end_when_their_worker_is_killed(tmp_path):
    done = subprocess.run([sys.executable, "-c", WORKER, str(tmp_path / "data")], cwd=ROOT,
                          env=child_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert pids and os.getpid() not in pids

    async def all_gone():
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        return not alive

    assert await wait_for(all_gone, timeout=30)
