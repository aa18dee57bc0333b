"""Exports: tables of briefs, media and items; one zip per brief, checked byte for byte."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile

import pytest

from intake.media.export import BlobMismatch, write_bundle, write_tables
from store.blobs import FileBlobStore
from tests.acks.conftest import add_brief
from tests.helpers import drain, make_email, send_async, smtp_listener

VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 40
PHOTO = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)
LINK = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


@pytest.fixture
async def filed(sctx):
    """Brief A with two items (a video twice under two names, a photo, a link), brief B
    with none, and one unmatched item that belongs to no export."""
    a = await add_brief(sctx, "=HYPERLINK(\"http://x\") Water kiosks")
    b = await add_brief(sctx, "Night schools")
    mails = [
        make_email(subject=f"video {a.ref}", sender="ann@example.org", body="Our kiosk.",
                   attachments=[("kiosk.mp4", VIDEO, "video/mp4"),
                                ("photo.png", PHOTO, "image/png")]),
        make_email(subject=f"again {a.ref}", sender="ann@example.org", body=f"See {LINK}",
                   attachments=[("kiosk (copy).mp4", VIDEO, "video/mp4")]),
        make_email(subject="no idea", sender="zed@example.org"),
    ]
    async with smtp_listener(sctx) as port:
        for raw in mails:
            await send_async(port, raw)
    await drain(sctx)
    return a, b


async def test_a_bundle_holds_each_medium_once_byte_for_byte(sctx, filed, tmp_path):
    a, _ = filed
    bundle = await write_bundle(sctx, a.ref, tmp_path / "out")
    assert bundle.path == tmp_path / "out" / f"{a.ref}.zip" and bundle.missing == []
    assert (bundle.files, bundle.bytes) == (2, len(VIDEO) + len(PHOTO))
    with zipfile.ZipFile(bundle.path) as archive:
        names = sorted(archive.namelist())
        metadata = json.loads(archive.read("metadata.json"))
        media = {m["path"]: m for m in metadata["media"] if m.get("path")}
        assert set(media) == {"media/kiosk.mp4", "media/photo.png"}
        for path, entry in media.items():
            assert archive.read(path) == await sctx.blobs.get_bytes(entry["sha256"])
        assert archive.getinfo("media/kiosk.mp4").compress_type == zipfile.ZIP_STORED
        item_ids = [i["id"] for i in metadata["items"]]
        assert names == sorted(["metadata.json", "links.txt", "media/kiosk.mp4",
                                "media/photo.png", *(f"items/{i}.txt" for i in item_ids)])
        first = archive.read(f"items/{item_ids[0]}.txt").decode()
        assert "Our kiosk." in first and "kiosk.mp4" in first
        assert archive.read("links.txt").decode().strip() == LINK
    assert media["media/kiosk.mp4"]["filenames"] == ["kiosk.mp4", "kiosk (copy).mp4"]
    assert media["media/kiosk.mp4"]["item_ids"] == item_ids
    assert metadata["summary"] == {"items": 2, "media": 2, "links": 1,
                                   "kinds": {"image": 1, "link": 1, "video": 1},
                                   "bytes": len(VIDEO) + len(PHOTO), "duration_seconds": None}
    assert metadata["ref"] == a.ref and metadata["links"] == [LINK]


async def test_a_damaged_blob_stops_the_bundle_and_leaves_no_zip(sctx, filed, tmp_path):
    a, _ = filed
    import hashlib

    assert isinstance(sctx.blobs, FileBlobStore)
    path = sctx.blobs.path(hashlib.sha256(VIDEO).hexdigest())
    path.write_bytes(VIDEO[:-1] + b"!")
    with pytest.raises(BlobMismatch):
        await write_bundle(sctx, a.ref, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


async def test_a_missing_blob_is_reported_in_the_bundle(sctx, filed, tmp_path):
    a, _ = filed
    import hashlib

    sctx.blobs.path(hashlib.sha256(PHOTO).hexdigest()).unlink()
    bundle = await write_bundle(sctx, a.ref, tmp_path / "out")
    assert bundle.missing == [hashlib.sha256(PHOTO).hexdigest()] and bundle.files == 1
    with zipfile.ZipFile(bundle.path) as archive:
        assert json.loads(archive.read("metadata.json"))["missing"] == bundle.missing
        assert "media/photo.png" not in archive.namelist()


async def test_tables_list_every_brief_with_its_media_and_items(sctx, filed, tmp_path):
    a, b = filed
    result = await write_tables(sctx, tmp_path / "tables")
    assert result["briefs"] == 2
    folder = tmp_path / "tables"
    with (folder / "briefs.csv").open(encoding="utf-8", newline="") as handle:
        briefs = {row["ref"]: row for row in csv.DictReader(handle)}
    assert briefs[a.ref]["title"].startswith("'=HYPERLINK")  # not a formula in a spreadsheet
    assert (briefs[a.ref]["items"], briefs[a.ref]["media"]) == ("2", "2")
    assert briefs[a.ref]["kinds"] == "image:1;link:1;video:1"
    assert briefs[a.ref]["bytes"] == str(len(VIDEO) + len(PHOTO))
    assert briefs[a.ref]["links"] == LINK
    assert (briefs[b.ref]["items"], briefs[b.ref]["media"]) == ("0", "0")
    with (folder / "media.csv").open(encoding="utf-8", newline="") as handle:
        media = list(csv.DictReader(handle))
    assert sorted(m["kind"] for m in media) == ["image", "link", "video"]
    with (folder / "items.csv").open(encoding="utf-8", newline="") as handle:
        assert [row["ref"] for row in csv.DictReader(handle)] == [a.ref, a.ref]
    exported = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    assert [x["ref"] for x in exported["briefs"]] == [a.ref, b.ref]
    assert exported["briefs"][0]["summary"]["items"] == 2


@pytest.fixture
def cli(tmp_path, sqlite_url):
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path / "data"),
           "INTAKE_DATABASE_URL": sqlite_url}

    def intake(*args, **settings):
        extra = {f"INTAKE_{k.upper()}": v for k, v in settings.items()}
        done = subprocess.run([sys.executable, "-m", "intake.cli", *args],
                              env={**env, **extra}, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return intake


async def test_export_all_writes_one_zip_per_brief_with_items(sctx, filed, cli, tmp_path):
    a, _ = filed
    report = json.loads(cli("export", "--all", str(tmp_path / "zips"), "--json"))
    assert [b["ref"] for b in report["bundles"]] == [a.ref]
    assert sorted(p.name for p in (tmp_path / "zips").iterdir()) == [f"{a.ref}.zip"]
    one = json.loads(cli("export", "--bundle", a.ref.lower(), "--out", str(tmp_path / "one"),
                         "--json"))
    assert one["files"] == 2 and (tmp_path / "one" / f"{a.ref}.zip").is_file()
    tables = json.loads(cli("export", "--out", str(tmp_path / "t"), "--json"))
    assert tables["briefs"] == 2


async def test_links_kit(sctx, filed, cli):
    a, b = filed
    links = json.loads(cli("briefs", "links", "--json", smtp_recipients="@intake.example, "
                           "videos@intake.example", telegram_bot_username="@IntakeBot"))
    by_ref = {row["ref"]: row for row in links}
    assert by_ref[b.ref]["mailto"] == f"mailto:videos@intake.example?subject={b.ref}%20Night" \
                                      "%20schools"
    assert by_ref[b.ref]["telegram"] == f"https://t.me/IntakeBot?start={b.ref}"
    rows = list(csv.DictReader(cli("briefs", "links", "--csv",
                                   ack_from="acks@intake.example").splitlines()))
    assert {r["ref"] for r in rows} == {a.ref, b.ref}
    row = next(r for r in rows if r["ref"] == a.ref)
    assert row["mailto"].startswith(f"mailto:acks@intake.example?subject={a.ref}%20%3DHYPER")
    assert row["telegram"] == "" and row["title"].startswith("'=")
    text = cli("briefs", "links")
    assert a.ref in text and "mailto:" not in text  # no address configured: no mailto
