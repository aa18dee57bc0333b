"""A link fetch's partial file kept across restarts: the bytes fsync'd so far, and what a Range
request needs to ask for the rest of the same file (its URL and validator)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from intake.links.download import CHUNK, Download

PREFIX = "resume-"  # resume-<fetch id>.part and resume-<fetch id>.json in the links spool


@dataclass
class Partial:
    """The open, locked partial file of one fetch; `state` is its last checkpoint."""

    path: Path
    state_path: Path
    handle: BinaryIO
    state: dict

    @property
    def resumable(self) -> bool:
        return bool(self.state.get("size")) and bool(self.state.get("validator"))

    def checkpoint(self, download: Download, size: int) -> None:
        """Make the first `size` bytes durable, then record them (in a thread: it fsyncs)."""
        if not download.validator or download.validator.startswith("W/"):
            return  # If-Range needs a strong validator: without one no resume is safe
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.state = {"url": self.state["url"], "file_url": download.url,
                      "validator": download.validator, "disposition": download.disposition,
                      "total": download.total, "size": size}
        _write_atomically(self.state_path, json.dumps(self.state).encode())

    def restore(self, download: Download) -> None:
        """Put the checkpoint's bytes back into `download`: cut what came after it, hash
        what came before (in a thread: it reads the file)."""
        size = self.state["size"]
        self.handle.truncate(size)
        self.handle.seek(0)
        digest, head, left = hashlib.sha256(), b"", size
        while left:
            block = self.handle.read(min(CHUNK, left))
            if not block:
                raise OSError(f"{self.path} is shorter than its checkpoint")
            digest.update(block)
            head += block[: 8192 - len(head)]
            left -= len(block)
        download.path, download.url = self.path, self.state["file_url"]
        download.validator = self.state["validator"]
        download.disposition = self.state.get("disposition", "")
        download.total, download.size = self.state.get("total"), size
        download.checkpointed = size
        download.digest, download.head = digest, head

    def reset(self) -> None:
        """Start this fetch from nothing (the server would not resume)."""
        self.handle.truncate(0)
        self.state = {"url": self.state["url"]}
        self.state_path.unlink(missing_ok=True)

    def hand_over(self) -> Path:
        """The finished file under a name of its own (the caller moves it into the store);
        the checkpoint goes and the lock is released."""
        self.handle.flush()
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f"link-{os.getpid()}-")
        os.close(fd)
        os.replace(self.path, name)  # still under our lock: no other fetcher sees it half-way
        self.state_path.unlink(missing_ok=True)
        self.handle.close()
        return Path(name)

    def keep(self) -> None:
        """Leave the checkpoint for the next attempt; release the lock."""
        self.handle.close()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)
        self.handle.close()


def open_partial(spool: Path, key: str, url: str) -> Partial | None:
    """The fetch's partial file, locked by this process; None when another process holds it
    (a lapsed lease: that fetcher is still writing). A checkpoint of another URL, or one the
    file does not hold, is dropped."""
    spool.mkdir(parents=True, exist_ok=True)
    path, state_path = spool / f"{PREFIX}{key}.part", spool / f"{PREFIX}{key}.json"
    handle = path.open("a+b")  # created if missing, never truncated by opening; appends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    state = {"url": url}
    with contextlib.suppress(OSError, ValueError):
        saved = json.loads(state_path.read_bytes())
        if (isinstance(saved, dict) and saved.get("url") == url
                and isinstance(saved.get("size"), int)
                and 0 < saved["size"] <= os.fstat(handle.fileno()).st_size):
            state = saved
    return Partial(path, state_path, handle, state)


def partial_ids(spool: Path) -> dict[int, list[Path]]:
    """The fetch ids that have partial files in the spool, with their files."""
    found: dict[int, list[Path]] = {}
    for path in spool.glob(f"{PREFIX}*"):
        key = path.name[len(PREFIX):].partition(".")[0]
        if key.isdigit():
            found.setdefault(int(key), []).append(path)
    return found


def _write_atomically(path: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
