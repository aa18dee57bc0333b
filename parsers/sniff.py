"""Media type from the first bytes (never from the name), and safe file names."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import puremagic

KINDS = ("video", "audio", "image", "document", "archive", "executable", "other")
HEAD_SIZE = 8192  # how many leading bytes callers should pass

# Checked before puremagic: its list for a PE file starts with obscure look-alikes.
_EXECUTABLE_MAGIC = (
    (b"MZ", "application/vnd.microsoft.portable-executable"),
    (b"\x7fELF", "application/x-executable"),
    (b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\xce\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\xca\xfe\xba\xbe", "application/x-mach-binary"),
    (b"#!", "text/x-shellscript"),
)
# ISO-BMFF brands that are still images, although the container looks like MP4.
_IMAGE_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"avif": "image/avif",
}
_ZIP_MEMBERS = (
    (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    (b"application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.text"),
)

_ARCHIVE_MIMES = ("zip", "rar", "7z", "gzip", "x-tar", "bzip2", "x-xz", "zstd")
_DOCUMENT_MIMES = (
    "pdf",
    "msword",
    "officedocument",
    "opendocument",
    "rtf",
    "ms-excel",
    "ms-powerpoint",
    "epub",
    "text/",
)

# What a file name's extension claims, for the type_mismatch flag only.
_CLAIMS = {
    "video": "mp4 m4v mov avi mkv webm 3gp wmv mpg mpeg flv ts mts",
    "audio": "mp3 m4a wav ogg oga opus aac flac amr wma",
    "image": "jpg jpeg png gif webp heic heif tif tiff bmp avif",
    "document": "pdf doc docx odt rtf txt ppt pptx xls xlsx",
}
_EXTENSION_KIND = {ext: kind for kind, exts in _CLAIMS.items() for ext in exts.split()}
_MEDIA_KINDS = ("video", "audio", "image")


@dataclass(frozen=True)
class Sniffed:
    """What the bytes say a file is."""

    mime: str
    kind: str  # one of KINDS
    flags: tuple[str, ...] = ()


def _kind_of_mime(mime: str) -> str:
    major = mime.partition("/")[0]
    if major in _MEDIA_KINDS:
        return major
    if "executable" in mime or "mach-binary" in mime or "shellscript" in mime:
        return "executable"
    if any(part in mime for part in _ARCHIVE_MIMES):
        return "archive"
    if any(part in mime for part in _DOCUMENT_MIMES):
        return "document"
    return "other"


def _zip_mime(head: bytes) -> str:
    """Office files are zips too; puremagic calls every zip a .docx, so look inside."""
    for marker, mime in _ZIP_MEMBERS:
        if marker in head:
            return mime
    return "application/zip"


def _ogg_mime(head: bytes) -> str:
    return "video/ogg" if b"\x80theora" in head else "audio/ogg"  # voice notes are Opus


def _special(head: bytes) -> str | None:
    """The few cases puremagic's first answer gets wrong or too vague."""
    for magic, mime in _EXECUTABLE_MAGIC:
        if head.startswith(magic):
            return mime
    if head.startswith(b"PK\x03\x04"):
        return _zip_mime(head)
    if head.startswith(b"OggS"):
        return _ogg_mime(head)
    if head[4:8] == b"ftyp":
        return _IMAGE_BRANDS.get(head[8:12])
    return None


def _puremagic_mime(head: bytes) -> str | None:
    """The most confident match that names a MIME type; None when nothing is known."""
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return None
    for match in matches:
        if match.mime_type:
            return match.mime_type
    return "application/octet-stream" if matches else None


def _text_mime(head: bytes) -> str:
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    printable = all(ch.isprintable() or ch in "\t\r\n\f" for ch in decoded)
    return "text/plain" if printable else "application/octet-stream"


def _claimed_kind(filename: str | None) -> str | None:
    if not filename or "." not in filename:
        return None
    return _EXTENSION_KIND.get(filename.rsplit(".", 1)[1].strip().lower())


def sniff(head: bytes, filename: str | None = None) -> Sniffed:
    """Type the leading bytes of a file; `filename` is only compared, never believed."""
    if not head:
        return Sniffed("application/x-empty", "other", ("empty",))
    mime = _special(head) or _puremagic_mime(head) or _text_mime(head[:HEAD_SIZE])
    kind = _kind_of_mime(mime)
    claimed = _claimed_kind(filename)
    flags = []
    if claimed in _MEDIA_KINDS and claimed != kind:
        flags.append("type_mismatch")
    if kind == "executable":
        flags.append("executable")
    return Sniffed(mime, kind, tuple(flags))


_UNSAFE = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\.|$)", re.IGNORECASE)
MAX_NAME = 150
_MAX_EXTENSION = 16


def _drop_invisible(name: str) -> str:
    """Control and format characters (e.g. U+202E right-to-left override) are dropped."""
    return "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))


def _shorten(name: str) -> str:
    if len(name) <= MAX_NAME:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION:
        return name[:MAX_NAME].rstrip(" .")
    return stem[: MAX_NAME - len(extension) - 1].rstrip(" .") + "." + extension


def safe_filename(name: str | None, fallback: str) -> str:
    """A base name safe to show and to offer for download: no paths, controls or dots first."""
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", _drop_invisible(name))
    name = " ".join(name.split()).strip().lstrip(".").rstrip(" .")
    if not name or not name.strip("._ "):
        return fallback
    if _RESERVED.match(name):
        name = "_" + name
    return _shorten(name)
