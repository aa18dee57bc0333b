"""`intake serve` killed with SIGKILL mid-delivery loses nothing that got a 250, doubles nothing."""

import asyncio
import contextlib
import hashlib
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time

from sqlalchemy import select

from intake.context import build_context
from intake.pipeline.accept import raw_bytes
from store.models import Item
from tests.conftest import make_settings
from tests.helpers import make_email, wait_for

CLIENTS, PER_CLIENT = 4, 50


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_serve(env: dict, log) -> subprocess.Popen:  # noqa: ANN001 - an open file
    # Logs go to a file: an unread pipe fills up and blocks the server.
    process = subprocess.Popen([sys.executable, "-m", "intake.cli", "serve"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", int(env["INTAKE_SMTP_PORT"])), 0.5):
                return process
        except OSError:
            if process.poll() is not None:
                raise AssertionError(f"intake serve exited with {process.returncode}") from None
            time.sleep(0.1)
    raise AssertionError("intake serve did not start listening")


class Client(threading.Thread):
    """Delivers its messages in order, retrying each until a 250, as an MTA would."""

    def __init__(self, port: int, messages: list[bytes], acked: list) -> None:
        super().__init__(daemon=True)
        self.port, self.messages, self.acked = port, messages, acked

    def run(self) -> None:
        for raw in self.messages:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
                        client.sendmail("field@example.org", ["v@intake.example"], raw)
                    self.acked.append(raw)
                    break
                except (OSError, smtplib.SMTPException):
                    time.sleep(0.1)


async def test_sigkill_during_delivery_loses_and_doubles_nothing(tmp_path, database_url):
    port = free_port()
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path / "data"),
           "INTAKE_DATABASE_URL": database_url, "INTAKE_SMTP_PORT": str(port),
           "INTAKE_WEB_ENABLED": "false"}
    messages = [[make_email(subject=f"clip {c}-{n}", attachments=[
        (f"clip{c}-{n}.mp4", os.urandom(20_000), "video/mp4")]) for n in range(PER_CLIENT)]
        for c in range(CLIENTS)]
    acked: list[bytes] = []
    log = (tmp_path / "serve.log").open("ab")
    server = start_serve(env, log)
    clients = [Client(port, batch, acked) for batch in messages]
    for client in clients:
        client.start()
    while len(acked) < CLIENTS * PER_CLIENT // 3:
        await asyncio.sleep(0.02)
    server.send_signal(signal.SIGKILL)  # no chance to flush or clean up
    server.wait()
    await asyncio.sleep(0.5)
    server = start_serve(env, log)
    try:
        for client in clients:
            await asyncio.to_thread(client.join, 300)
        assert len(acked) == CLIENTS * PER_CLIENT
        ctx = build_context(make_settings(tmp_path, database_url))
        try:
            await _check(ctx, acked)
        finally:
            await ctx.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        log.close()


async def _check(ctx, acked: list[bytes]) -> None:
    async def all_processed():
        async with ctx.db.reader()() as session:
            items = list(await session.scalars(select(Item)))
        return items if items and all(i.status != "received" for i in items) else None

    items = await wait_for(all_processed, timeout=240, interval=0.5)
    by_sha = {}
    for item in items:
        assert item.raw_sha256 not in by_sha, "a message was stored twice"
        by_sha[item.raw_sha256] = item
    assert len(items) == len(acked)
    for raw in acked:
        item = by_sha[hashlib.sha256(raw).hexdigest()]
        assert await raw_bytes(ctx, item.id) == raw
        assert item.status in ("matched", "unmatched"), (item.status, item.error)


def _send_huge(port: int, total: int, acked: list) -> None:
    """One acknowledged small message, then a DATA of `total` bytes that never ends well."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.sendmail("field@example.org", ["v@intake.example"], make_email(subject="kept"))
    acked.append(True)
    with contextlib.suppress(OSError, smtplib.SMTPException):
        client = smtplib.SMTP("127.0.0.1", port, timeout=60)
        client.ehlo()
        client.mail("field@example.org")
        client.rcpt("v@intake.example")
        client.putcmd("data")
        client.getreply()
        line = b"A" * 76 + b"\r\n"
        block = b"Subject: huge\r\n\r\n" + line * 13_000  # ~1 MB per write
        for _ in range(total // len(block)):
            client.sock.sendall(block)


async def test_sigkill_during_a_200_mb_data_keeps_the_acked_and_cleans_the_spool(
        tmp_path, database_url):
    port = free_port()
    data = tmp_path / "data"
    env = {**os.environ, "INTAKE_DATA_DIR": str(data), "INTAKE_DATABASE_URL": database_url,
           "INTAKE_SMTP_PORT": str(port), "INTAKE_WEB_ENABLED": "false",
           "INTAKE_SMTP_MAX_BYTES": "300000000"}
    spool = data / "spool" / "smtp"
    log = (tmp_path / "serve.log").open("ab")
    server = start_serve(env, log)
    acked: list = []
    sender = threading.Thread(target=_send_huge, args=(port, 200_000_000, acked), daemon=True)
    sender.start()

    async def spooling():  # the server is part-way through the 200 MB
        parts = list(spool.glob("*.part")) if spool.is_dir() else []
        return parts if parts and parts[0].stat().st_size > 20_000_000 else None

    try:
        [partial] = await wait_for(spooling, timeout=120, interval=0.05)
        server.send_signal(signal.SIGKILL)
        server.wait()
        await asyncio.to_thread(sender.join, 60)
        assert partial.exists()  # what kill -9 leaves behind
        server = start_serve(env, log)
        await wait_for(lambda: _ready(not partial.exists()), timeout=60)
        ctx = build_context(make_settings(tmp_path, database_url))
        try:
            async with ctx.db.reader()() as session:
                items = list(await session.scalars(select(Item)))
        finally:
            await ctx.close()
        assert acked == [True] and len(items) == 1  # the acknowledged one; the cut one is none
        assert items[0].raw_size < 10_000
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        log.close()


async def _ready(value):
    return value
