"""Work on chat items done in a worker process: read the update, match it, type a download."""

from __future__ import annotations

from pathlib import Path

from channels.chat import ChatUpdate, UpdateParser
from intake.pipeline.analyse import SNIFF_BYTES, MatchOptions, SpooledFile, rematch
from parsers.links import find_video_links
from parsers.sniff import safe_filename, sniff
from store.blobs import sha256_file


def read_update(parse: UpdateParser, raw_path: str, handle: str | None) -> ChatUpdate:
    """A large stored update read by the app's parser (a module-level function: picklable)."""
    return parse(Path(raw_path).read_bytes(), handle)


def match_update(features: dict, extra: list[dict], options: MatchOptions) -> tuple[dict, list]:
    """The verdict for a chat item's features, and the video links in its text."""
    return rematch(features, extra, options), find_video_links(features.get("text") or "")


def spooled_file(path: str, filename: str | None, declared: str | None,
                 fallback: str) -> SpooledFile:
    """Hash and sniff a downloaded file: its type comes from its bytes, never its name."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    sniffed = sniff(head, filename)
    return SpooledFile(
        path=path, sha256=sha256_file(Path(path)), size=Path(path).stat().st_size,
        mime=sniffed.mime, kind=sniffed.kind, filename=safe_filename(filename, fallback),
        declared_type=declared, flags=list(sniffed.flags),
    )
