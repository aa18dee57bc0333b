"""Media downloads: only by sha256 from the blob store, Range, inline only for playable types."""

import shutil

import pytest

from tests.web.conftest import deliver, process

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>\n"


async def _media(client, ctx, attachments):
    item_id = await deliver(ctx, attachments=attachments)
    await process(ctx)
    response = await client.get(f"/api/items/{item_id}")
    return (await response.json())["media"]


async def test_a_video_is_served_inline_with_range(client, tiny_mp4):
    from tests.web.test_security import client_ctx

    await client.signin("vic")
    [video] = await _media(client, client_ctx(client), [("clip.mp4", tiny_mp4, "video/mp4")])
    assert video["kind"] == "video" and video["url"] == f"/media/{video['sha256']}"
    whole = await client.get(video["url"])
    assert whole.status == 200 and await whole.read() == tiny_mp4
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Content-Disposition"].startswith("inline;")
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = await client.get(video["url"], headers={"Range": "bytes=10-99"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 10-99/{len(tiny_mp4)}"
    assert await part.read() == tiny_mp4[10:100]
    assert part.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in part.headers["Content-Security-Policy"]


async def test_anything_else_is_an_attachment(client):
    from tests.web.test_security import client_ctx

    await client.signin("vic")
    media = await _media(client, client_ctx(client), [
        ("report.pdf", PDF, "application/pdf"), ("page.html", HTML, "text/html")])
    for m in media:
        response = await client.get(m["url"])
        assert response.status == 200
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;"), m
        assert f"filename*=UTF-8''{m['filename']}" in disposition
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_unknown_or_malformed_hashes_are_404(client):
    await client.signin("vic")
    assert (await client.get("/media/" + "a" * 64)).status == 404
    assert (await client.get("/media/../../etc/passwd")).status == 404
    assert (await client.get("/media/ABC")).status == 404


async def test_a_raw_email_blob_is_not_downloadable(client):
    """Only media rows are served: the stored .eml (with every header) is not."""
    from sqlalchemy import select

    from store.models import Item
    from tests.web.test_security import client_ctx

    ctx = client_ctx(client)
    await deliver(ctx)
    async with ctx.db.reader()() as session:
        raw_sha = await session.scalar(select(Item.raw_sha256))
    await client.signin("ada")
    assert (await client.get(f"/media/{raw_sha}")).status == 404


@pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
                    reason="ffmpeg/ffprobe are not installed (Debian package ffmpeg)")
async def test_a_videos_still_shows_on_its_item_and_in_the_queue(client, tiny_mp4):
    from intake.media.videos import install_video_details
    from tests.web.test_security import client_ctx

    ctx = client_ctx(client)
    install_video_details(ctx)  # as the worker role does
    await client.signin("vic")
    item_id = await deliver(ctx, attachments=[("clip.mp4", tiny_mp4, "video/mp4"),
                                              ("report.pdf", PDF, "application/pdf")])
    await process(ctx)
    video, pdf = (await (await client.get(f"/api/items/{item_id}")).json())["media"]
    assert video["thumbnail"] == f"/media/{video['sha256']}/thumbnail"
    still = await client.get(video["thumbnail"])
    assert still.status == 200 and still.headers["Content-Type"] == "image/jpeg"
    assert (await still.read())[:3] == b"\xff\xd8\xff"
    assert pdf["thumbnail"] is None
    assert (await client.get(f"/media/{pdf['sha256']}/thumbnail")).status == 404
    assert (await client.get(f"/media/{'0' * 64}/thumbnail")).status == 404
    item = await (await client.get(f"/items/{item_id}")).text()
    queue = await (await client.get("/queue")).text()
    assert f'poster="{video["thumbnail"]}"' in item and "0:01" in item and "160×120" in item
    assert f'class="thumb" src="{video["thumbnail"]}"' in queue
