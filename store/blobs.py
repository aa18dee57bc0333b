"""Content-addressed blob stores: bytes live under their sha256, written atomically with fsync."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

CHUNK = 1 << 20


class BlobStore(Protocol):
    """What intake needs of a blob store; filesystem by default, S3 for scale-out."""

    async def put_bytes(self, data: bytes) -> str: ...

    async def put_file(self, path: Path, sha256: str) -> None: ...

    async def exists(self, sha256: str) -> bool: ...

    async def get_bytes(self, sha256: str) -> bytes: ...

    def stream(self, sha256: str) -> AsyncIterator[bytes]: ...

    def stream_range(self, sha256: str, first: int, last: int) -> AsyncIterator[bytes]: ...

    async def check(self) -> None: ...


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobStore:
    """Blobs under root/ab/cd/<sha256>: temp file, fsync, rename, fsync the folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put_bytes(self, data: bytes) -> str:
        return await asyncio.to_thread(self._put_bytes, data)

    async def put_file(self, path: Path, sha256: str) -> None:
        await asyncio.to_thread(self._put_file, Path(path), sha256)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path(sha256).is_file)

    async def get_bytes(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.path(sha256).read_bytes)

    async def stream(self, sha256: str) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self.path(sha256).open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def stream_range(self, sha256: str, first: int, last: int) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self.path(sha256).open, "rb")
        try:
            await asyncio.to_thread(handle.seek, first)
            left = last - first + 1
            while left > 0 and (chunk := await asyncio.to_thread(handle.read, min(CHUNK, left))):
                left -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def check(self) -> None:
        await asyncio.to_thread(self._check)

    def _check(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.tmp) as probe:
            probe.write(b"ok")
            probe.flush()

    def _put_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.is_file():
            return sha256
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            self._install(Path(name), target)
        finally:
            Path(name).unlink(missing_ok=True)
        return sha256

    def _put_file(self, path: Path, sha256: str) -> None:
        target = self.path(sha256)
        if target.is_file():
            path.unlink(missing_ok=True)
            return
        with path.open("rb+") as handle:
            os.fsync(handle.fileno())
        try:
            self._install(path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            self._copy_in(path, target)  # a spool on another disk: copy, then fsync

    def _copy_in(self, path: Path, target: Path) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as handle, path.open("rb") as source:
                shutil.copyfileobj(source, handle, CHUNK)
                handle.flush()
                os.fsync(handle.fileno())
            self._install(Path(name), target)
        finally:
            Path(name).unlink(missing_ok=True)
        path.unlink(missing_ok=True)

    def _install(self, source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)  # atomic: readers see the whole file or none
        _fsync_dir(target.parent)


@asynccontextmanager
async def local_path(blobs: BlobStore, sha256: str, spool: Path) -> AsyncIterator[Path]:
    """A blob as a local file, for what needs a path (a parsing process, ffprobe): the file
    store's own file, or a copy spooled from another store and removed afterwards."""
    if isinstance(blobs, FileBlobStore):
        yield blobs.path(sha256)
        return
    spool.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=spool, prefix="blob-")
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in blobs.stream(sha256):
                await asyncio.to_thread(handle.write, chunk)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def open_blob_store(url: str, **s3_options: str) -> BlobStore:
    """A blob store for file:///path (default) or s3://bucket/prefix."""
    if url.startswith("file://"):
        return FileBlobStore(Path(url[len("file://") :]))
    if url.startswith("s3://"):
        from store.s3 import S3BlobStore  # optional dependency: the [s3] extra

        return S3BlobStore(url, **s3_options)
    raise ValueError(f"unsupported blob store URL {url!r} (file:// or s3://)")
