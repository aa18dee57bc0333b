"""The upload descriptor: the small JSON raw item that stands for a finished upload."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from parsers.features import Features
from parsers.sniff import safe_filename

DESCRIPTOR_TYPE = "application/vnd.intake.upload+json"
CHANNEL = "upload"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BadDescriptor(ValueError):
    """The descriptor's bytes are not one we wrote (a bug, or a damaged row)."""


@dataclass(frozen=True)
class UploadDescriptor:
    """What the upload server knew when the last byte was fsync'd."""

    upload_id: str
    sha256: str  # of the whole file, computed as it was written
    size: int
    filename: str  # as the sender's browser named it (shown only after safe_filename)
    filetype: str | None  # as declared by the browser; never trusted for the type
    brief_id: int | None  # from a private link: the brief it is bound to
    code: str | None  # from /upload: the code the sender typed
    email: str | None  # the sender's address, when given
    language: str | None

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode()

    @property
    def safe_name(self) -> str:
        return safe_filename(self.filename, f"upload-{self.upload_id[:8]}")

    def features(self) -> Features:
        """The matching rules read the typed code as text; the link's brief comes as a
        candidate of the caller's (rule "upload_link")."""
        return Features(channel=CHANNEL, sender=self.email, subject=self.safe_name,
                        text=self.code or "", filenames=[self.safe_name],
                        language=self.language)


def _optional(data: dict, key: str, kind: type) -> object:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise BadDescriptor(f"{key} must be {kind.__name__} or null")
    return value


def parse_descriptor(raw: bytes) -> UploadDescriptor:
    """The descriptor in `raw`, checked field by field; BadDescriptor says what is wrong."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadDescriptor(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadDescriptor("not a JSON object")
    upload_id, sha256, size = data.get("upload_id"), data.get("sha256"), data.get("size")
    if not isinstance(upload_id, str) or not upload_id:
        raise BadDescriptor("upload_id missing")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise BadDescriptor("sha256 missing or malformed")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadDescriptor("size missing or negative")
    return UploadDescriptor(
        upload_id=upload_id, sha256=sha256, size=size,
        filename=str(data.get("filename") or ""),
        filetype=_optional(data, "filetype", str), brief_id=_optional(data, "brief_id", int),
        code=_optional(data, "code", str), email=_optional(data, "email", str),
        language=_optional(data, "language", str),
    )
