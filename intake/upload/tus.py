"""The tus 1.0 protocol's vocabulary: versions, extensions, header parsing, typed errors."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from email.utils import format_datetime

VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
OFFSET_TYPE = "application/offset+octet-stream"
STATUS_CHECKSUM_MISMATCH = 460  # the checksum extension's own status code


class TusError(Exception):
    """A request the protocol (or our limits) refuses: its status and a plain sentence."""

    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def parse_metadata(header: str | None) -> dict[str, str]:
    """Upload-Metadata: comma-separated "key base64value" pairs (the value may be absent)."""
    found: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise TusError(400, f"Upload-Metadata: the value of {key!r} is not base64 "
                                "UTF-8") from None
    return found


def parse_length(header: str | None, name: str) -> int:
    if header is None or not header.isdigit():
        raise TusError(400, f"{name} must be a non-negative integer")
    return int(header)


class Checksum:
    """Upload-Checksum of one PATCH body: the algorithm's running hash and the expected digest."""

    def __init__(self, header: str) -> None:
        algorithm, _, value = header.strip().partition(" ")
        if algorithm not in CHECKSUMS:
            raise TusError(400, f"checksum algorithm {algorithm!r} is not supported "
                                f"(use one of {', '.join(CHECKSUMS)})")
        try:
            self.expected = base64.b64decode(value.strip(), validate=True)
        except binascii.Error:
            raise TusError(400, "Upload-Checksum: the digest is not base64") from None
        self.hash = CHECKSUMS[algorithm]()

    def update(self, data: bytes) -> None:
        self.hash.update(data)

    def holds(self) -> bool:
        return self.hash.digest() == self.expected


def expires_header(when: datetime) -> str:
    return format_datetime(when, usegmt=True)  # RFC 7231 date, as the spec asks
