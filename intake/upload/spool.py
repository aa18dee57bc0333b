"""An upload's bytes on disk: one spool file each, written at its offset, fsync'd to confirm."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

READ = 1 << 20


def upload_dir(data_dir: Path) -> Path:
    # Beside the file blob store (data_dir/blobs): a finished upload is moved into it by a
    # rename, never a copy.
    return Path(data_dir) / "uploads"


def part_path(root: Path, upload_id: str) -> Path:
    if not upload_id.isalnum():
        raise ValueError(f"not an upload id: {upload_id!r}")
    return root / f"{upload_id}.part"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create(path: Path) -> None:
    """An empty spool file, its name durable before the upload's URL is handed out."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)


def free_bytes(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(root).free


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def hash_prefix(path: Path, length: int) -> hashlib._Hash:
    """sha256 of the first `length` bytes: after a restart, the running hash is rebuilt."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        left = length
        while left > 0 and (chunk := handle.read(min(READ, left))):
            digest.update(chunk)
            left -= len(chunk)
    if left:
        raise OSError(f"{path} is shorter than its confirmed offset {length}")
    return digest


class Writer:
    """Writes one PATCH body at the confirmed offset: bytes past it (from a request cut
    short before a crash) are cut off first, so the file never holds unconfirmed data
    before new data."""

    def __init__(self, path: Path, offset: int) -> None:
        self.handle = path.open("r+b")
        self.handle.truncate(offset)
        self.handle.seek(offset)

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def sync(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def rollback(self, offset: int) -> None:
        self.handle.flush()
        self.handle.truncate(offset)

    def close(self) -> None:
        self.handle.close()
