"""The blob store contract, run against the filesystem store and the S3 store (moto server)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from store.blobs import FileBlobStore
from store.s3 import BlobCorrupt, S3BlobStore

ROOT = Path(__file__).resolve().parents[2]


async def _joined(store, sha256: str) -> bytes:  # noqa: ANN001
    return b"".join([chunk async for chunk in store.stream(sha256)])


async def test_put_bytes_returns_the_hash_and_reads_back(blob_store):
    data = b"video bytes " * 1000
    sha = await blob_store.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert await blob_store.exists(sha)
    assert await blob_store.get_bytes(sha) == data
    assert await blob_store.put_bytes(data) == sha  # a second copy changes nothing


async def test_a_missing_blob_does_not_exist_and_reading_it_fails(blob_store):
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not await blob_store.exists(missing)
    with pytest.raises(FileNotFoundError):
        await blob_store.get_bytes(missing)
    with pytest.raises(FileNotFoundError):
        await _joined(blob_store, missing)


async def test_stream_yields_the_blob_in_chunks(blob_store):
    data = os.urandom(3 * (1 << 20) + 12345)  # several chunks, the last one short
    sha = await blob_store.put_bytes(data)
    chunks = [chunk async for chunk in blob_store.stream(sha)]
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= 1 << 20
    assert b"".join(chunks) == data


async def test_stream_range_yields_just_those_bytes(blob_store):
    data = os.urandom(2 * (1 << 20) + 777)
    sha = await blob_store.put_bytes(data)
    for first, last in ((0, 0), (10, 99), (1 << 20, (1 << 20) + 5), (len(data) - 3, len(data) - 1),
                        (5, len(data) - 1)):
        got = b"".join([chunk async for chunk in blob_store.stream_range(sha, first, last)])
        assert got == data[first:last + 1], (first, last)


async def test_put_file_moves_a_spooled_file_into_place(blob_store, tmp_path):
    source = tmp_path / "spool" / "att-1"
    source.parent.mkdir()
    data = os.urandom(70_000)
    source.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    await blob_store.put_file(source, sha)
    assert not source.exists()  # the spool does not fill up
    assert await blob_store.get_bytes(sha) == data
    again = tmp_path / "spool" / "att-2"
    again.write_bytes(data)
    await blob_store.put_file(again, sha)  # already there: the copy is dropped
    assert not again.exists() and await blob_store.get_bytes(sha) == data


async def test_a_large_file_goes_up_whole(blob_store, tmp_path):
    data = os.urandom(20 << 20)  # above the S3 store's multipart threshold
    source = tmp_path / "big.mp4"
    source.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    await blob_store.put_file(source, sha)
    assert hashlib.sha256(await _joined(blob_store, sha)).hexdigest() == sha


async def test_keys_are_content_addressed_and_checked(blob_store):
    sha = await blob_store.put_bytes(b"abc")
    if isinstance(blob_store, FileBlobStore):
        assert blob_store.path(sha) == blob_store.root / sha[:2] / sha[2:4] / sha
    else:
        assert blob_store.key(sha) == f"blobs/{sha[:2]}/{sha[2:4]}/{sha}"
    for bad in ("../../etc/passwd", sha.upper(), sha[:-1]):
        with pytest.raises(ValueError):
            await blob_store.exists(bad)


async def test_check_passes_when_the_store_answers(blob_store):
    await blob_store.check()


# -- the S3 store only ---------------------------------------------------------------------


async def test_s3_check_fails_for_a_missing_bucket(moto_s3):
    store = moto_s3.store("no-such-bucket-here")
    try:
        with pytest.raises(Exception):  # noqa: B017 - botocore's ClientError (404)
            await store.check()
    finally:
        await store.close()


async def test_s3_skips_the_upload_when_the_object_exists(moto_s3, s3_bucket, tmp_path):
    store = moto_s3.store(s3_bucket)
    try:
        client = await store.client()
        calls = []
        real_put = client.put_object

        async def counting_put(**kwargs):  # noqa: ANN003, ANN202
            calls.append(kwargs["Key"])
            return await real_put(**kwargs)

        client.put_object = counting_put
        sha = await store.put_bytes(b"once")
        await store.put_bytes(b"once")
        spooled = tmp_path / "again"
        spooled.write_bytes(b"once")
        await store.put_file(spooled, sha)
        assert calls == [store.key(sha)]
    finally:
        await store.close()


async def test_s3_large_files_use_multipart_upload(moto_s3, s3_bucket, tmp_path):
    store = moto_s3.store(s3_bucket)
    data = os.urandom(20 << 20)
    source = tmp_path / "big"
    source.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    try:
        await store.put_file(source, sha)
        head = await (await store.client()).head_object(Bucket=s3_bucket, Key=store.key(sha))
        assert head["ETag"].strip('"').endswith("-3")  # 20 MiB in 8 MiB parts
        assert head["ContentLength"] == len(data)
    finally:
        await store.close()


async def test_s3_refuses_a_file_that_does_not_match_its_hash(moto_s3, s3_bucket, tmp_path):
    store = moto_s3.store(s3_bucket)
    try:
        for size in (1000, 20 << 20):  # one PUT, and multipart (which must be aborted)
            source = tmp_path / f"f{size}"
            source.write_bytes(os.urandom(size))
            wrong = hashlib.sha256(b"something else").hexdigest()
            with pytest.raises(ValueError):
                await store.put_file(source, wrong)
            assert not await store.exists(wrong)
        client = await store.client()
        uploads = await client.list_multipart_uploads(Bucket=s3_bucket)
        assert not uploads.get("Uploads")
    finally:
        await store.close()


async def test_s3_detects_an_object_changed_behind_its_back(moto_s3, s3_bucket):
    store = moto_s3.store(s3_bucket)
    try:
        sha = await store.put_bytes(b"original")
        client = await store.client()
        await client.put_object(Bucket=s3_bucket, Key=store.key(sha), Body=b"tampered")
        with pytest.raises(BlobCorrupt):
            await store.get_bytes(sha)
        with pytest.raises(BlobCorrupt):
            await _joined(store, sha)
    finally:
        await store.close()


def test_the_s3_url_names_bucket_and_prefix():
    assert S3BlobStore("s3://media/intake/blobs/").key("a" * 64) == \
        f"intake/blobs/aa/aa/{'a' * 64}"
    assert S3BlobStore("s3://media").key("b" * 64) == f"bb/bb/{'b' * 64}"
    with pytest.raises(ValueError):
        S3BlobStore("s3:///nobucket")


def test_moto_listens_on_loopback_only(moto_s3):
    assert moto_s3.host == "127.0.0.1"


async def test_s3_upload_and_download_hold_no_whole_video_in_memory(moto_s3, s3_bucket,
                                                                     tmp_path):
    """In a child process (moto's own copies stay out of it): resident memory grows by a
    bounded amount (two 8 MiB parts, each copied once into the socket buffer), far less than
    the 128 MiB file, while it is uploaded and streamed back."""
    size = 128 << 20
    source = tmp_path / "video.mp4"
    digest = hashlib.sha256()
    with source.open("wb") as handle:
        for _ in range(size >> 20):
            block = os.urandom(1 << 20)
            digest.update(block)
            handle.write(block)
    # Big buffers via mmap, so freed parts go back to the system and RSS shows what is live
    # (glibc otherwise keeps them in its arenas and RSS only ever grows).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MALLOC_MMAP_THRESHOLD_": str(1 << 20),
           **moto_s3.env(s3_bucket)}
    grown = {}
    for mode, path in (("upload", source), ("download", tmp_path / "back.mp4")):
        done = subprocess.run(
            [sys.executable, "-m", "tests.scale.memory_child", mode, str(path),
             digest.hexdigest()], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        grown.update(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not source.exists()  # moved into the store
    assert (tmp_path / "back.mp4").stat().st_size == size
    assert grown["upload"] < 48 << 20, grown
    assert grown["download"] < 16 << 20, grown
