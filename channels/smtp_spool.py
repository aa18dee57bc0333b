"""SMTP DATA received in constant memory: dot-unstuffing, size limit and sha256 as it streams."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

END = b"\r\n.\r\n"
MEMORY_MAX = 64 * 1024  # a message this small stays in memory: accept keeps it in its row
FLUSH_BYTES = 1 << 20  # hand the file writes and the hashing to a thread by the MiB
HEAD_BYTES = 256 * 1024  # kept in memory for the Message-ID (the header section)
PREFIX = "smtp-"


class TooBig(Exception):
    """The message crossed the size limit; nothing of it is kept."""


class Unstuffer:
    """Turns the DATA byte stream into message bytes (RFC 5321 §4.5.2), chunk by chunk.

    Only CRLF ends a line (bare LF never does: aiosmtpd's SMTP-smuggling fix); a line that
    starts with a dot loses it; CRLF.CRLF ends the data. No line is ever held whole, so a
    line may be any length. The data starts at a line start: a virtual CRLF stands for it.
    """

    def __init__(self) -> None:
        self._carry = b"\r\n"
        self._skip = 2  # the virtual CRLF is not message bytes
        self.done = False

    def feed(self, chunk: bytes) -> tuple[list[bytes], bytes]:
        """Message pieces found in chunk, and the bytes left after the end of data."""
        buffer, start, pieces = self._carry + chunk, 0, []
        while True:
            dot = buffer.find(b"\r\n.", start)
            if dot < 0 or dot + 5 > len(buffer):
                break
            pieces.append(buffer[start:dot + 2])
            if buffer[dot + 3:dot + 5] == b"\r\n":  # CRLF . CRLF: the end of the data
                self.done = True
                return self._skipped(pieces), buffer[dot + 5:]
            start = dot + 3  # drop the stuffed dot
        # Keep what may begin a CRLF-dot not yet seen whole (at most 4 bytes).
        keep = dot if dot >= 0 else max(start, len(buffer) - 2)
        pieces.append(buffer[start:keep])
        self._carry = buffer[keep:]
        return self._skipped(pieces), b""

    def _skipped(self, pieces: list[bytes]) -> list[bytes]:
        while self._skip and pieces:
            cut = min(self._skip, len(pieces[0]))
            pieces[0] = pieces[0][cut:]
            self._skip -= cut
            if not pieces[0]:
                pieces.pop(0)
        return [piece for piece in pieces if piece]


class Sink:
    """Where message bytes go: memory up to MEMORY_MAX, then a spool file; the sha256 and
    the size limit are kept as they arrive. File work is done by the caller in a thread
    (write_pending), by the MiB, so the event loop never waits on the disk."""

    def __init__(self, spool_dir: Path, limit: int | None) -> None:
        self.spool_dir = spool_dir
        self.limit = limit
        self.size = 0
        self.head = bytearray()
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.path: Path | None = None
        self._file = None
        self._sha = hashlib.sha256()

    def add(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            self.size += len(piece)
            if len(self.head) < HEAD_BYTES:
                self.head += piece[:HEAD_BYTES - len(self.head)]
            self.pending.append(piece)
            self.pending_size += len(piece)
        if self.limit and self.size > self.limit:
            raise TooBig(self.size)

    def wants_flush(self) -> bool:
        """True when pending bytes should go to disk (through write_pending, in a thread)."""
        if self._file is None:
            return self.size > MEMORY_MAX
        return self.pending_size >= FLUSH_BYTES

    def in_memory(self) -> bytes | None:
        """The whole message, when it never left memory."""
        return b"".join(self.pending) if self._file is None else None

    def write_pending(self) -> None:
        """Blocking: write and hash what is pending (opening the spool file on first use)."""
        if self._file is None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            self.path = self.spool_dir / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex}.part"
            self._file = self.path.open("xb")
        pending, self.pending, self.pending_size = self.pending, [], 0
        for piece in pending:
            self._sha.update(piece)  # hashlib and file writes release the GIL
            self._file.write(piece)

    def finish(self) -> str:
        """Blocking: write the rest and close; the sha256 of the whole message. (The blob
        store fsyncs the file as it moves it into place: one fsync, not two.)"""
        self.write_pending()
        self._file.close()
        return self._sha.hexdigest()

    def discard(self) -> None:
        """Blocking: drop the spool file, if any (too big, connection lost, accept done)."""
        if self._file is not None:
            self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        self.pending, self.pending_size = [], 0


def clean_spool(spool_dir: Path) -> int:
    """Remove spool files left by a process of this host that is gone (killed mid-DATA);
    returns how many. Files of live processes (another SMTP process sharing the data
    folder) are theirs."""
    removed = 0
    for path in spool_dir.glob(f"{PREFIX}*.part") if spool_dir.is_dir() else []:
        pid = path.name[len(PREFIX):].partition("-")[0]
        if pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    if removed:
        log.warning("removed %d partial SMTP spool files left by a crash", removed)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
