"""Work done in a worker process: parse an item, spool its files, run the matching rules."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from intake.pipeline.spool_parts import NotStreamable, SpooledPart, split_parts
from parsers.email import ParsedEmail, parse_email
from parsers.features import BriefRecord, Candidate, Features
from parsers.links import find_video_links
from parsers.matching import BriefIndex, Policy, Verdict, match
from parsers.sniff import safe_filename, sniff

SNIFF_BYTES = 8192
# Above this, an email's base64 file parts are decoded straight to disk as the file is
# read (spool_parts), so the worker's memory does not grow with the attachments; below it
# the whole message is parsed in memory, which is cheaper for small mail.
STREAM_ABOVE = 1 << 20

# One brief index per worker process, rebuilt only when the snapshot file changes;
# building it for 100,000 briefs takes seconds, matching one item milliseconds.
_index_cache: dict[str, BriefIndex] = {}


@dataclass
class SpooledFile:
    """An attachment written to the spool, hashed and sniffed, waiting for the blob store."""

    path: str
    sha256: str
    size: int
    mime: str
    kind: str
    filename: str
    declared_type: str | None
    flags: list[str] = field(default_factory=list)


@dataclass
class Analysis:
    """The worker's answer for one item (plain data: it crosses a process boundary)."""

    features: dict
    files: list[SpooledFile]
    links: list[str]
    flags: list[str]
    verdict: dict


@dataclass(frozen=True)
class MatchOptions:
    """The matching settings and the brief snapshot to read."""

    index_path: str | None
    prefix: str = "HLH"
    response_id_pattern: str = ""
    title_threshold: float = 0.85
    title_margin: float = 0.10


def load_index(options: MatchOptions) -> BriefIndex:
    key = f"{options.index_path}|{options.prefix}|{options.response_id_pattern}"
    if key not in _index_cache:
        records = []
        if options.index_path:
            data = json.loads(Path(options.index_path).read_text(encoding="utf-8"))
            records = [BriefRecord(r[0], r[1], r[2], r[3], tuple(r[4])) for r in data]
        _index_cache.clear()  # keep one snapshot: old ones are stale
        _index_cache[key] = BriefIndex(records, prefix=options.prefix)
    return _index_cache[key]


def verdict_json(verdict: Verdict) -> dict:
    return verdict.to_json()


def rematch(features: dict, extra: list[dict], options: MatchOptions) -> dict:
    """Match stored features again (after a survey import); no parsing, no files."""
    index = load_index(options)
    candidates = [Candidate(**c) for c in extra]
    return verdict_json(match(Features.from_json(features), index, candidates, **_tuning(options)))


def _tuning(options: MatchOptions) -> dict:
    # parsers.matching.match takes one Policy (its table holds every threshold).
    pattern = {"response_pattern": options.response_id_pattern} if (
        options.response_id_pattern) else {}
    return {"policy": Policy(title_threshold=options.title_threshold,
                             title_margin=options.title_margin, **pattern)}


def spool(payload: bytes, spool_dir: Path) -> tuple[str, str]:
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=spool_dir, prefix="att-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    return name, hashlib.sha256(payload).hexdigest()


def analyse_email(
    raw_path: str, channel: str, envelope_sender: str | None, spool_dir: str,
    extra: list[dict], options: MatchOptions, stream_above: int = STREAM_ABOVE,
) -> Analysis:
    """Parse an email, spool its attachments, find video links, and match it."""
    parsed, spooled = _parse(Path(raw_path), channel, envelope_sender, Path(spool_dir),
                             stream_above)
    files = []
    for number, attachment in enumerate(parsed.attachments, 1):
        part = spooled.pop(attachment.payload, None)  # a token: decoded on the way in
        files.append(_spool_attachment(attachment, number, Path(spool_dir), part))
        attachment.payload = b""  # free as we go: a 40 MB video is held once, not twice
    for part in spooled.values():  # a part the parser does not count as a file
        Path(part.path).unlink(missing_ok=True)
    features = parsed.features
    features.filenames = [f.filename for f in files]
    flags = ["parse_fallback"] if parsed.fallback else []
    flags += sorted({flag for f in files for flag in f.flags})
    links = find_video_links(f"{features.subject}\n{features.text}")
    verdict = match(features, load_index(options), [Candidate(**c) for c in extra],
                    **_tuning(options))
    features_json = features.to_json()
    features_json["headers"] = parsed.headers
    features_json["defects"] = parsed.defects
    return Analysis(without_nul(features_json), files, links, flags, verdict_json(verdict))


def _parse(raw_path: Path, channel: str, sender: str | None, spool_dir: Path,
           stream_above: int) -> tuple[ParsedEmail, dict[bytes, SpooledPart]]:
    """The parsed email, and the parts decoded to disk on the way (by their token)."""
    spooled: dict[bytes, SpooledPart] = {}
    raw = None
    if raw_path.stat().st_size > stream_above:
        try:
            raw, spooled = split_parts(raw_path, spool_dir)  # the skeleton
        except NotStreamable:
            raw = None
    if raw is None:
        raw = raw_path.read_bytes()
    return parse_email(raw, channel, sender), spooled


def without_nul(value):  # noqa: ANN001, ANN201 - any JSON value
    """PostgreSQL text and JSONB cannot hold U+0000, which binary junk decodes to."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: without_nul(v) for k, v in value.items()}
    return value


def _spool_attachment(attachment, number: int, spool_dir: Path,  # noqa: ANN001
                      part: SpooledPart | None = None) -> SpooledFile:
    if part is None:
        path, sha256 = spool(attachment.payload, spool_dir)
        part = SpooledPart(path, sha256, len(attachment.payload),
                           attachment.payload[:SNIFF_BYTES])
    sniffed = sniff(part.head, attachment.filename)
    return SpooledFile(
        path=part.path,
        sha256=part.sha256,
        size=part.size,
        mime=sniffed.mime,
        kind=sniffed.kind,
        filename=safe_filename(attachment.filename, f"attachment-{number}"),
        declared_type=attachment.declared_type,
        flags=list(sniffed.flags),
    )
