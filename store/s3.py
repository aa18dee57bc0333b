"""S3-compatible blob store (aiobotocore): content-addressed keys, multipart upload, streaming."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # download chunk
PART = 8 << 20  # multipart part size (S3's minimum is 5 MiB for all but the last part)
MULTIPART_ABOVE = 16 << 20  # smaller files go up in one PUT
# Parts read and not yet sent. Each may sit once more in the socket's send buffer, so an
# upload holds about 2 × 2 × 8 MiB, whatever the file's size (tests/scale/test_blobs.py).
PARTS_IN_FLIGHT = 2
MISSING = {"404", "NoSuchKey", "NotFound"}


class BlobCorrupt(OSError):
    """The bytes read back do not hash to their key."""


def _md5(data: bytes) -> str:
    # Content-MD5 is the integrity check every S3-compatible store honours (the newer
    # x-amz-checksum-* headers are not understood by all of them).
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _check_sha256(sha256: str) -> None:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256: {sha256!r}")


def parse_s3_url(url: str) -> tuple[str, str]:
    """s3://bucket/some/prefix → ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket[/prefix] URL: {url!r}")
    return parts.netloc, parts.path.strip("/")


class S3BlobStore:
    """Blobs at <prefix>/ab/cd/<sha256> in one bucket; an upload is skipped when the key exists."""

    def __init__(self, url: str, endpoint_url: str = "", region: str = "",
                 access_key_id: str = "", secret_access_key: str = "") -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self._client_args: dict[str, Any] = {
            "region_name": region or None,
            "endpoint_url": endpoint_url or None,
            "aws_access_key_id": access_key_id or None,
            "aws_secret_access_key": secret_access_key or None,
            "config": AioConfig(
                # Path-style: MinIO and most self-hosted stores have no wildcard DNS.
                s3={"addressing_style": "path" if endpoint_url else "auto"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10, read_timeout=120,
            ),
        }
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    def key(self, sha256: str) -> str:
        _check_sha256(sha256)
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    async def client(self) -> Any:  # noqa: ANN401 - aiobotocore's generated S3 client
        """One client per store, made on first use (it belongs to the running event loop)."""
        async with self._lock:
            if self._client is None:
                stack = AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client("s3", **self._client_args))
                self._stack = stack
            return self._client

    async def close(self) -> None:
        async with self._lock:
            if self._stack is not None:
                await self._stack.aclose()
            self._stack, self._client = None, None

    # -- the BlobStore interface ------------------------------------------------------------

    async def put_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if not await self.exists(sha256):
            s3 = await self.client()
            await s3.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data,
                                ContentMD5=_md5(data), ContentType="application/octet-stream")
        return sha256

    async def put_file(self, path: Path, sha256: str) -> None:
        """Upload a spooled file under its hash, then remove it (as FileBlobStore moves it)."""
        path = Path(path)
        if not await self.exists(sha256):
            size = path.stat().st_size
            if size > MULTIPART_ABOVE:
                await self._multipart(path, sha256)
            else:
                data = await asyncio.to_thread(path.read_bytes)
                if hashlib.sha256(data).hexdigest() != sha256:
                    raise ValueError(f"{path} does not hash to {sha256}")
                s3 = await self.client()
                await s3.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data,
                                    ContentMD5=_md5(data),
                                    ContentType="application/octet-stream")
        path.unlink(missing_ok=True)

    async def exists(self, sha256: str) -> bool:
        s3 = await self.client()
        try:
            await s3.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING:
                return False
            raise
        return True

    async def get_bytes(self, sha256: str) -> bytes:
        response = await self._get(sha256)
        async with response["Body"] as body:
            data = await body.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobCorrupt(f"blob {sha256} read back with other contents")
        return data

    async def stream(self, sha256: str) -> AsyncIterator[bytes]:
        """Chunks of the blob; raises BlobCorrupt at the end if they do not hash to the key."""
        response = await self._get(sha256)
        digest = hashlib.sha256()
        async with response["Body"] as body:
            async for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
                yield chunk
        if digest.hexdigest() != sha256:
            raise BlobCorrupt(f"blob {sha256} read back with other contents")

    async def stream_range(self, sha256: str, first: int, last: int) -> AsyncIterator[bytes]:
        """Bytes first..last (inclusive) of the blob, e.g. for a video player seeking; a part
        cannot be checked against the hash, so it is not."""
        response = await self._get(sha256, Range=f"bytes={first}-{last}")
        async with response["Body"] as body:
            async for chunk in body.iter_chunks(CHUNK):
                yield chunk

    async def _get(self, sha256: str, **options: str) -> dict:
        s3 = await self.client()
        try:
            return await s3.get_object(Bucket=self.bucket, Key=self.key(sha256), **options)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING:
                # The same error as the filesystem store's, so callers handle one.
                raise FileNotFoundError(f"no blob {sha256}") from exc
            raise

    async def check(self) -> None:
        """The bucket answers with these credentials (raises otherwise)."""
        s3 = await self.client()
        await s3.head_bucket(Bucket=self.bucket)

    # -- multipart upload -------------------------------------------------------------------

    async def _multipart(self, path: Path, sha256: str) -> None:
        s3 = await self.client()
        key = self.key(sha256)
        started = await s3.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                   ContentType="application/octet-stream")
        upload_id = started["UploadId"]
        try:
            parts = await self._upload_parts(path, sha256, key, upload_id)
            await s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                               MultipartUpload={"Parts": parts})
        except BaseException:
            # An unfinished upload's parts are kept (and billed) until aborted.
            await asyncio.shield(self._abort(key, upload_id))
            raise

    async def _upload_parts(self, path: Path, sha256: str, key: str, upload_id: str) -> list:
        s3 = await self.client()
        slots = asyncio.Semaphore(PARTS_IN_FLIGHT)
        digest = hashlib.sha256()
        tasks: list[asyncio.Task] = []

        async def send(number: int, data: bytes) -> dict:
            try:
                answer = await s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                              PartNumber=number, Body=data, ContentMD5=_md5(data))
                return {"PartNumber": number, "ETag": answer["ETag"]}
            finally:
                slots.release()

        try:
            with path.open("rb") as handle:
                number = 0
                while True:
                    await slots.acquire()  # read a part only when it may be sent
                    data = await asyncio.to_thread(_read_part, handle, digest)
                    if not data:
                        slots.release()
                        break
                    number += 1
                    tasks.append(asyncio.create_task(send(number, data)))
            if digest.hexdigest() != sha256:
                raise ValueError(f"{path} does not hash to {sha256}")
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _abort(self, key: str, upload_id: str) -> None:
        try:
            s3 = await self.client()
            await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception:  # the bucket's lifecycle rule cleans up what this could not
            log.warning("could not abort multipart upload %s of %s", upload_id, key,
                        exc_info=True)


def _read_part(handle, digest: Any) -> bytes:  # noqa: ANN001, ANN401 - a binary file, a hash
    data = handle.read(PART)
    digest.update(data)  # in this thread: hashing 8 MiB releases the GIL
    return data
