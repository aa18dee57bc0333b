"""The tus server with tuspy, a real tus client: create, chunks, HEAD, checksum, limits."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from datetime import timedelta

import pytest
import requests
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError

from intake.context import build_context
from intake.upload import sweep
from intake.upload.links import new_link, revoke, signer_for
from intake.web import build_app
from intake.web.upload import UPLOADS
from store.migrate import upgrade
from store.models import Item, ItemMedia, Media, Upload, utcnow
from tests.conftest import make_settings
from tests.helpers import drain
from tests.upload.conftest import add_brief, url

TUS = {"Tus-Resumable": "1.0.0"}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _create(server, length: int, **meta: str) -> requests.Response:
    header = ",".join(f"{k} {_b64(v)}" for k, v in meta.items())
    return requests.post(url(server, "/tus/"), headers={
        **TUS, "Upload-Length": str(length), "Upload-Metadata": header}, timeout=30)


def _upload_with_tuspy(server, path, metadata: dict, chunk_size: int, checksum=False) -> str:
    uploader = tus_client.TusClient(url(server, "/tus/")).uploader(
        file_path=str(path), chunk_size=chunk_size, metadata=metadata,
        upload_checksum=checksum)
    uploader.upload()
    return uploader.url


async def _item_of(ctx, upload_id: str) -> Item:
    async with ctx.db.reader()() as session:
        upload = await session.get(Upload, upload_id)
        return await session.get(Item, upload.item_id)


async def _media_of(ctx, item_id: int) -> list[tuple[str, Media]]:
    async with ctx.db.reader()() as session:
        rows = await session.execute(select(ItemMedia.filename, Media).join(
            Media, Media.id == ItemMedia.media_id).where(ItemMedia.item_id == item_id))
        return list(rows)


async def test_upload_in_chunks_through_a_private_link_is_matched(ctx, server, brief, token,
                                                                  tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + data)
    location = await asyncio.to_thread(
        _upload_with_tuspy, server, path, {"filename": "clip.mp4", "token": token},
        1024 * 1024, True)
    upload_id = location.rsplit("/", 1)[1]
    head = await asyncio.to_thread(requests.head, location, headers=TUS, timeout=30)
    assert head.status_code == 200
    size = str(path.stat().st_size)
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == size
    item = await _item_of(ctx, upload_id)
    assert item.channel == "upload"
    await drain(ctx)
    item = await _item_of(ctx, upload_id)
    assert (item.status, item.brief_id, item.rule, item.confidence) == (
        "matched", brief.id, "upload_link", 1.0)
    [(filename, medium)] = await _media_of(ctx, item.id)
    assert filename == "clip.mp4" and medium.kind == "video"
    assert medium.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert await ctx.blobs.exists(medium.sha256)
    assert not list((ctx.settings.data_dir / "uploads").glob("*.part"))  # moved, not copied


async def test_head_reports_the_confirmed_offset_and_a_resume_finishes(ctx, server, token,
                                                                      tmp_path):
    data = os.urandom(2_000_000)
    created = await asyncio.to_thread(_create, server, len(data), filename="a.bin", token=token)
    assert created.status_code == 201
    location = url(server, created.headers["Location"])
    patch = {**TUS, "Content-Type": "application/offset+octet-stream"}
    first = await asyncio.to_thread(requests.patch, location, data=data[:700_000],
                                    headers={**patch, "Upload-Offset": "0"}, timeout=30)
    assert first.status_code == 204 and first.headers["Upload-Offset"] == "700000"
    head = await asyncio.to_thread(requests.head, location, headers=TUS, timeout=30)
    assert head.headers["Upload-Offset"] == "700000" and "Upload-Expires" in head.headers
    stale = await asyncio.to_thread(requests.patch, location, data=data[:10],
                                    headers={**patch, "Upload-Offset": "0"}, timeout=30)
    assert stale.status_code == 409
    # tuspy resumes from the server's offset (it HEADs the stored URL first)
    path = tmp_path / "a.bin"
    path.write_bytes(data)
    def resume() -> None:  # the uploader HEADs the URL as it is made: off the loop
        tus_client.TusClient(url(server, "/tus/")).uploader(
            file_path=str(path), url=location, chunk_size=500_000).upload()

    await asyncio.to_thread(resume)
    item = await _item_of(ctx, created.headers["Location"].rsplit("/", 1)[1])
    assert item is not None and item.raw_size < 2000  # a descriptor, not the file


async def test_a_checksum_mismatch_is_refused_and_nothing_is_kept(ctx, server, token):
    created = await asyncio.to_thread(_create, server, 1000, filename="a.bin", token=token)
    location = url(server, created.headers["Location"])
    wrong = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    response = await asyncio.to_thread(requests.patch, location, data=b"x" * 500, headers={
        **TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0",
        "Upload-Checksum": f"sha1 {wrong}"}, timeout=30)
    assert response.status_code == 460
    head = await asyncio.to_thread(requests.head, location, headers=TUS, timeout=30)
    assert head.headers["Upload-Offset"] == "0"
    right = base64.b64encode(hashlib.sha256(b"y" * 500).digest()).decode()
    response = await asyncio.to_thread(requests.patch, location, data=b"y" * 500, headers={
        **TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0",
        "Upload-Checksum": f"sha256 {right}"}, timeout=30)
    assert response.status_code == 204 and response.headers["Upload-Offset"] == "500"


async def test_unfinished_uploads_expire_and_are_removed(ctx, server, token):
    created = await asyncio.to_thread(_create, server, 1000, filename="a.bin", token=token)
    upload_id = created.headers["Location"].rsplit("/", 1)[1]
    part = ctx.settings.data_dir / "uploads" / f"{upload_id}.part"
    assert part.exists()
    uploads = server.app[UPLOADS]
    assert await sweep.expire(uploads) == 0  # not yet
    later = utcnow() + timedelta(hours=ctx.settings.upload_expire_hours, minutes=1)
    assert await sweep.expire(uploads, now=later) == 1
    assert not part.exists()
    async with ctx.db.writer()() as session, session.begin():
        (await session.get(Upload, upload_id)).expires_at = later  # as if the clock moved
    head = await asyncio.to_thread(requests.head, url(server, created.headers["Location"]),
                                   headers=TUS, timeout=30)
    assert head.status_code == 410


async def test_termination_removes_the_upload(ctx, server, token):
    created = await asyncio.to_thread(_create, server, 1000, filename="a.bin", token=token)
    location = url(server, created.headers["Location"])
    gone = await asyncio.to_thread(requests.delete, location, headers=TUS, timeout=30)
    assert gone.status_code == 204
    head = await asyncio.to_thread(requests.head, location, headers=TUS, timeout=30)
    assert head.status_code == 410


async def test_options_lists_the_extensions(server):
    response = await asyncio.to_thread(requests.options, url(server, "/tus/"), timeout=30)
    assert response.status_code == 204
    assert "checksum" in response.headers["Tus-Extension"]
    assert "sha256" in response.headers["Tus-Checksum-Algorithm"]


# -- bad input ------------------------------------------------------------------------------


async def test_oversize_declared_length_is_413_before_any_byte(ctx, server, token):
    response = await asyncio.to_thread(
        _create, server, ctx.settings.upload_max_bytes + 1, filename="big.mp4", token=token)
    assert response.status_code == 413
    assert "larger than" in response.text
    assert not list((ctx.settings.data_dir / "uploads").glob("*.part"))


@pytest.mark.parametrize("bad", ["forged", "abc.def", "0123456789abcdef.0000000000000000000000"])
async def test_wrong_token_is_404_with_a_plain_message(server, bad):
    page = await asyncio.to_thread(requests.get, url(server, f"/u/{bad}"), timeout=30)
    assert page.status_code == 404
    assert page.headers["Content-Type"].startswith("text/plain")
    assert "not valid or has expired" in page.text
    created = await asyncio.to_thread(_create, server, 10, filename="a", token=bad)
    assert created.status_code == 404


async def test_revoked_or_expired_link_is_404(ctx, server, brief, token):
    ok = await asyncio.to_thread(requests.get, url(server, f"/u/{token}"), timeout=30)
    assert ok.status_code == 200 and brief.ref in ok.text
    assert await revoke(ctx, brief.id, "test") == 1
    page = await asyncio.to_thread(requests.get, url(server, f"/u/{token}"), timeout=30)
    assert page.status_code == 404


async def test_path_like_file_name_is_reduced_to_its_base_name(ctx, server, token, tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000))
    location = await asyncio.to_thread(
        _upload_with_tuspy, server, path,
        {"filename": "../../../etc/cron.d/evil.mp4", "token": token}, 10**9)
    item = await _item_of(ctx, location.rsplit("/", 1)[1])
    await drain(ctx)
    [(filename, _medium)] = await _media_of(ctx, item.id)
    assert filename == "evil.mp4"
    assert not (tmp_path.parent / "etc").exists()


async def test_an_executable_named_mp4_is_flagged_not_a_video(ctx, server, token, tmp_path):
    path = tmp_path / "x.mp4"
    path.write_bytes(b"MZ\x90\x00" + os.urandom(4000))
    location = await asyncio.to_thread(
        _upload_with_tuspy, server, path, {"filename": "holiday.mp4", "token": token}, 10**9)
    item = await _item_of(ctx, location.rsplit("/", 1)[1])
    await drain(ctx)
    item = await _item_of(ctx, location.rsplit("/", 1)[1])
    [(_name, medium)] = await _media_of(ctx, item.id)
    assert medium.kind == "executable" and "executable" in item.flags


async def test_general_page_needs_a_known_valid_code_and_an_email(ctx, server, brief):
    bad = await asyncio.to_thread(_create, server, 10, filename="a", code="HLH-00000-1",
                                  email="a@example.org")
    assert bad.status_code == 400
    no_email = await asyncio.to_thread(_create, server, 10, filename="a", code=brief.ref)
    assert no_email.status_code == 400
    good = await asyncio.to_thread(_create, server, 10, filename="a", code=brief.ref.lower(),
                                   email="Field@Example.org")
    assert good.status_code == 201
    page = await asyncio.to_thread(requests.get, url(server, "/upload?lang=fr"), timeout=30)
    assert page.status_code == 200 and "Envoyer votre vidéo" in page.text


@contextlib.asynccontextmanager
async def _web_process(settings):
    """A web app with a context of its own on `settings`: another web process, as far as
    the upload page can tell (they share only the database and the data folder)."""
    ctx = build_context(settings)
    await upgrade(ctx.db)
    test_server = TestServer(build_app(ctx), host="127.0.0.1")
    await test_server.start_server()
    try:
        yield ctx, test_server
    finally:
        await test_server.close()
        await ctx.close()


async def test_creation_is_rate_limited_per_address_across_web_processes(tmp_path,
                                                                         database_url):
    settings = make_settings(tmp_path, database_url, upload_creations_per_hour=2)
    async with _web_process(settings) as (ctx, first), _web_process(settings) as (_, second):
        brief = await add_brief(ctx)
        token = await new_link(ctx, signer_for(ctx), brief.id, "test")
        answers = [await asyncio.to_thread(_create, web, 10, filename="a", token=token)
                   for web in (first, second, second)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert 3500 <= int(answers[2].headers["Retry-After"]) <= 3600  # when the first frees up
    assert "Too many uploads" in answers[2].text


async def test_new_uploads_are_refused_under_the_free_disk_floor(tmp_path, database_url):
    # A floor no disk reaches: every new upload is refused before a byte is stored.
    settings = make_settings(tmp_path, database_url, upload_min_free_bytes=10**18)
    async with _web_process(settings) as (ctx, web):
        brief = await add_brief(ctx)
        token = await new_link(ctx, signer_for(ctx), brief.id, "test")
        response = await asyncio.to_thread(_create, web, 10, filename="a", token=token)
        async with ctx.db.reader()() as session:
            uploads = await session.scalar(select(func.count()).select_from(Upload))
    assert response.status_code == 507 and "disk space" in response.text
    assert uploads == 0


def test_tuspy_sees_a_plain_error(server):  # noqa: ARG001 - documents tuspy's behaviour
    assert issubclass(TusCommunicationError, Exception)
