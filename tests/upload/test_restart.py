"""A tus upload survives `intake serve` killed with SIGKILL: HEAD gives the fsync'd offset."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time

import requests
from sqlalchemy import select
from tusclient import client as tus_client

from intake.upload.analyse import install
from intake.upload.links import new_link, signer_for
from store.models import ItemMedia, Media, Upload
from tests.helpers import drain
from tests.upload.conftest import add_brief

CHUNK = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(env: dict, log) -> subprocess.Popen:  # noqa: ANN001 - an open file
    process = subprocess.Popen([sys.executable, "-m", "intake.cli", "serve", "--only", "web"],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{env['INTAKE_WEB_PORT']}/healthz", timeout=1)
            return process
        except requests.ConnectionError:
            if process.poll() is not None:
                raise AssertionError(f"intake serve exited with {process.returncode}") from None
            time.sleep(0.1)
    raise AssertionError("intake serve did not start listening")


async def test_resume_after_sigkill_and_restart(ctx, tmp_path):
    install(ctx)
    brief = await add_brief(ctx)
    token = await new_link(ctx, signer_for(ctx), brief.id, "test")  # key kept in data_dir
    port = _free_port()
    env = {**os.environ, "INTAKE_DATA_DIR": str(ctx.settings.data_dir),
           "INTAKE_DATABASE_URL": ctx.settings.effective_database_url,
           "INTAKE_WEB_PORT": str(port), "INTAKE_SMTP_ENABLED": "false"}
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(8 * CHUNK))
    endpoint = f"http://127.0.0.1:{port}/tus/"
    log = (tmp_path / "serve.log").open("ab")
    server = await asyncio.to_thread(_start, env, log)

    def first_part() -> str:
        uploader = tus_client.TusClient(endpoint).uploader(
            file_path=str(path), chunk_size=CHUNK, metadata={"filename": "clip.mp4",
                                                             "token": token})
        for _ in range(3):
            uploader.upload_chunk()
        return uploader.url

    try:
        location = await asyncio.to_thread(first_part)
        server.send_signal(signal.SIGKILL)  # no chance to flush or clean up
        server.wait()
        server = await asyncio.to_thread(_start, env, log)
        head = await asyncio.to_thread(requests.head, location,
                                       headers={"Tus-Resumable": "1.0.0"}, timeout=30)
        assert head.status_code == 200 and int(head.headers["Upload-Offset"]) == 3 * CHUNK

        def rest() -> None:
            tus_client.TusClient(endpoint).uploader(
                file_path=str(path), url=location, chunk_size=CHUNK).upload()

        await asyncio.to_thread(rest)
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 60)
        log.close()
    async with ctx.db.reader()() as session:
        upload = await session.get(Upload, location.rsplit("/", 1)[1])
    assert upload.status == "accepted" and upload.item_id
    await drain(ctx)
    async with ctx.db.reader()() as session:
        medium = await session.scalar(select(Media).join(
            ItemMedia, ItemMedia.media_id == Media.id).where(ItemMedia.item_id == upload.item_id))
    assert medium.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
