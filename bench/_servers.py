"""Bench helpers: start `intake serve` or a bare aiosmtpd sink in a subprocess, free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"server exited with {process.returncode}") from None
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def start_intake(data_dir: Path, roles: str, **env: str) -> tuple[subprocess.Popen, int, int]:
    smtp, web = free_port(), free_port()
    environ = {**os.environ, "INTAKE_DATA_DIR": str(data_dir), "INTAKE_SMTP_PORT": str(smtp),
               "INTAKE_WEB_PORT": str(web), **env}
    log = (data_dir.parent / f"{data_dir.name}.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "intake.cli", "serve", "--only", roles],
                               env=environ, stdout=log, stderr=subprocess.STDOUT)
    if "smtp" in roles or "web" in roles:
        wait_port(smtp if "smtp" in roles else web, process)
    else:  # a worker listens on nothing: give it time to start, and check it lives
        time.sleep(3)
        if process.poll() is not None:
            raise SystemExit(f"intake serve --only {roles} exited with {process.returncode}")
    return process, smtp, web


BARE = '''
import asyncio, os, sys, tempfile
from aiosmtpd.smtp import SMTP
class Handler:
    async def handle_DATA(self, server, session, envelope):
        def write():
            fd, name = tempfile.mkstemp(dir=sys.argv[2])
            with os.fdopen(fd, "wb") as f:
                f.write(envelope.original_content); f.flush(); os.fsync(f.fileno())
        await asyncio.to_thread(write)
        return "250 OK"
async def main():
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: SMTP(Handler(), hostname="bare", data_size_limit=60_000_000,
                             enable_SMTPUTF8=True), "127.0.0.1", int(sys.argv[1]))
    await asyncio.Event().wait()
asyncio.run(main())
'''


def start_bare(spool: Path) -> tuple[subprocess.Popen, int]:
    """A bare aiosmtpd handler that only writes and fsyncs the bytes: the baseline."""
    port = free_port()
    spool.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-c", BARE, str(port), str(spool)])
    wait_port(port, process)
    return process, port
