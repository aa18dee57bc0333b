"""Exports for the learning labs: briefs with their media and items as CSV/JSON, one zip each."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import json
import mimetypes
import os
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from intake.context import Context
from intake.review.views import brief_json
from parsers.sniff import safe_filename
from store.exports import briefs_after, linked_items
from store.models import Brief, Item, Media
from store.queries import brief_by_ref, media_of_items

BATCH = 200  # briefs read per query
STORED_KINDS = ("video", "audio", "image")  # compressed already: ZIP_STORED, no CPU spent
Progress = Callable[[int], None]  # called with the bytes just written


class BlobMismatch(Exception):
    """A stored file no longer has the sha256 it is stored under."""


@dataclass
class Medium:
    """One distinct medium of a brief, with every filename and item that carried it."""

    media: Media
    filenames: list[str] = field(default_factory=list)
    item_ids: list[int] = field(default_factory=list)


@dataclass
class BriefExport:
    """A brief with its matched items and their media (each medium once)."""

    brief: Brief
    items: list[Item]
    media: list[Medium]
    item_media: dict[int, list[int]]  # item id → media ids

    @property
    def files(self) -> list[Medium]:
        return [m for m in self.media if m.media.kind != "link"]

    @property
    def links(self) -> list[str]:
        return [m.media.url for m in self.media if m.media.kind == "link" and m.media.url]

    def bytes(self) -> int:
        return sum(m.media.size or 0 for m in self.files)

    def summary(self) -> dict:
        durations = [d for m in self.files if (d := (m.media.details or {}).get("duration"))]
        return {
            "items": len(self.items), "media": len(self.files), "links": len(self.links),
            "kinds": dict(sorted(Counter(m.media.kind for m in self.media).items())),
            "bytes": self.bytes(),
            "duration_seconds": round(sum(durations), 3) if durations else None,
        }


def _export(brief: Brief, items: list[Item], media: dict[int, list]) -> BriefExport:
    by_id: dict[int, Medium] = {}
    item_media: dict[int, list[int]] = {}
    for item in items:
        item_media[item.id] = []
        for filename, _declared, row in media.get(item.id, []):
            entry = by_id.setdefault(row.id, Medium(row))
            if filename and filename not in entry.filenames:
                entry.filenames.append(filename)
            if item.id not in entry.item_ids:
                entry.item_ids.append(item.id)
            item_media[item.id].append(row.id)
    return BriefExport(brief, items, list(by_id.values()), item_media)


async def _exports_of(session, briefs: list[Brief]) -> list[BriefExport]:  # noqa: ANN001
    items = await linked_items(session, [b.id for b in briefs])
    media = await media_of_items(session, [i.id for rows in items.values() for i in rows])
    return [_export(b, items[b.id], media) for b in briefs]


async def brief_exports(ctx: Context, with_items_only: bool = False) -> AsyncIterator[BriefExport]:
    """Every brief (or every brief with a matched item), page by page, in id order."""
    after = 0
    while True:
        async with ctx.db.reader()() as session:
            briefs = await briefs_after(session, after, BATCH, with_items_only)
            if not briefs:
                return
            exports = await _exports_of(session, briefs)
        for export in exports:
            yield export
        after = briefs[-1].id


async def brief_export(ctx: Context, ref: str) -> BriefExport | None:
    async with ctx.db.reader()() as session:
        brief = await brief_by_ref(session, ref.strip())
        if brief is None:
            return None
        return (await _exports_of(session, [brief]))[0]


# -- JSON shapes ------------------------------------------------------------------------------


def medium_json(entry: Medium, path: str | None = None) -> dict:
    media, details = entry.media, dict(entry.media.details or {})
    data = {
        "media_id": media.id, "kind": media.kind, "mime": media.mime, "size": media.size,
        "sha256": media.sha256, "url": media.url, "filenames": entry.filenames,
        "item_ids": entry.item_ids, "duration": details.get("duration"),
        "width": details.get("width"), "height": details.get("height"),
        "codec": details.get("codec"), "thumbnail_sha256": details.get("thumbnail_sha256"),
    }
    if path is not None:
        data["path"] = path
    return data


def item_json(item: Item, media_ids: list[int]) -> dict:
    return {
        "id": item.id, "channel": item.channel, "status": item.status, "rule": item.rule,
        "confidence": item.confidence, "flags": list(item.flags or []), "sender": item.sender,
        "subject": item.subject, "language": item.language,
        "received_at": item.received_at.isoformat() if item.received_at else None,
        "media_ids": media_ids,
    }


def export_json(export: BriefExport, paths: dict[int, str] | None = None) -> dict:
    paths = paths or {}
    return {
        **brief_json(export.brief), "summary": export.summary(), "links": export.links,
        "items": [item_json(i, export.item_media[i.id]) for i in export.items],
        "media": [medium_json(m, paths.get(m.media.id)) for m in export.media],
    }


# -- tables -----------------------------------------------------------------------------------

BRIEF_COLUMNS = ("ref", "response_id", "title", "email", "name", "organisation", "country",
                 "language", "source", "items", "media", "kinds", "bytes", "duration_seconds",
                 "links")
ITEM_COLUMNS = ("ref", "item_id", "channel", "received_at", "sender", "subject", "rule",
                "confidence", "flags", "media")
MEDIA_COLUMNS = ("ref", "media_id", "kind", "mime", "size", "duration_seconds", "width",
                 "height", "codec", "filenames", "item_ids", "sha256", "url")


def csv_cell(value: object) -> object:
    """A spreadsheet must not run a submitter's "=HYPERLINK(…)" title as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _rows(export: BriefExport) -> tuple[list, list, list]:
    b, summary = export.brief, export.summary()
    kinds = ";".join(f"{k}:{n}" for k, n in summary["kinds"].items())
    briefs = [[b.ref, b.response_id, b.title, b.email, b.name, b.organisation, b.country,
               b.language, b.source, summary["items"], summary["media"], kinds, summary["bytes"],
               summary["duration_seconds"], " ".join(export.links)]]
    items = [[b.ref, i.id, i.channel, i.received_at.isoformat() if i.received_at else None,
              i.sender, i.subject, i.rule, i.confidence, ";".join(i.flags or []),
              len(export.item_media[i.id])] for i in export.items]
    media = []
    for m in export.media:
        d = m.media.details or {}
        media.append([b.ref, m.media.id, m.media.kind, m.media.mime, m.media.size,
                      d.get("duration"), d.get("width"), d.get("height"), d.get("codec"),
                      ";".join(m.filenames), ";".join(map(str, m.item_ids)), m.media.sha256,
                      m.media.url])
    return briefs, items, media


class _Tables:
    """briefs.csv, items.csv, media.csv and export.json, written as the briefs stream by."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.paths = {name: out_dir / name for name in
                      ("briefs.csv", "items.csv", "media.csv", "export.json")}
        self.files = {name: path.open("w", encoding="utf-8", newline="")
                      for name, path in self.paths.items()}
        self.writers = {name: csv.writer(self.files[name]) for name in self.files
                        if name.endswith(".csv")}
        for name, columns in (("briefs.csv", BRIEF_COLUMNS), ("items.csv", ITEM_COLUMNS),
                              ("media.csv", MEDIA_COLUMNS)):
            self.writers[name].writerow(columns)
        generated = datetime.now(UTC).isoformat(timespec="seconds")
        self.files["export.json"].write(f'{{"generated_at": "{generated}", "briefs": [')
        self.count = 0

    def add(self, exports: list[BriefExport]) -> None:
        for export in exports:
            for name, rows in zip(("briefs.csv", "items.csv", "media.csv"), _rows(export),
                                  strict=True):
                self.writers[name].writerows([[csv_cell(v) for v in row] for row in rows])
            separator = ",\n" if self.count else "\n"
            self.files["export.json"].write(separator + json.dumps(
                export_json(export), ensure_ascii=False, default=str))
            self.count += 1

    def close(self) -> None:
        self.files["export.json"].write("\n]}\n")
        for handle in self.files.values():
            handle.close()


async def write_tables(ctx: Context, out_dir: Path) -> dict:
    """Write the four files into `out_dir`; returns their paths and the number of briefs."""
    tables = await asyncio.to_thread(_Tables, Path(out_dir))
    try:
        batch: list[BriefExport] = []
        async for export in brief_exports(ctx):
            batch.append(export)
            if len(batch) >= BATCH:
                await asyncio.to_thread(tables.add, batch)
                batch = []
        await asyncio.to_thread(tables.add, batch)
    finally:
        await asyncio.to_thread(tables.close)
    return {"briefs": tables.count, "files": {k: str(v) for k, v in tables.paths.items()}}


# -- bundles ----------------------------------------------------------------------------------


@dataclass
class Bundle:
    """One written zip: where, how many media files and bytes, and what was missing."""

    ref: str
    path: Path
    files: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)  # sha256 of media absent from the store


def zip_names(export: BriefExport) -> dict[int, str]:
    """media id → a safe, unique path in the zip (media/<name as sent>)."""
    taken: set[str] = set()
    names = {}
    for entry in export.files:
        media = entry.media
        extension = mimetypes.guess_extension(media.mime or "") or ""
        name = safe_filename(entry.filenames[0] if entry.filenames else None,
                             f"{media.kind}-{media.id}{extension}")
        stem, dot, suffix = name.rpartition(".")
        stem, suffix = (stem, dot + suffix) if stem else (name, "")
        candidate, n = name, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{stem}-{n}{suffix}"
        taken.add(candidate.casefold())
        names[media.id] = f"media/{candidate}"
    return names


def item_text(item: Item, filenames: list[str]) -> str:
    features = item.features or {}
    head = [f"Item {item.id} ({item.channel}), received "
            f"{item.received_at.isoformat() if item.received_at else '?'}",
            f"From: {item.sender or ''}", f"Subject: {item.subject or ''}"]
    if filenames:
        head.append("Files: " + ", ".join(filenames))
    return "\n".join(head) + "\n\n" + (features.get("text") or "") + "\n"


def _zip_time(when: datetime | None) -> tuple:
    when = when or datetime.now(UTC)
    return (max(1980, when.year), when.month, when.day, when.hour, when.minute, when.second)


async def _copy_blob(ctx: Context, archive: zipfile.ZipFile, name: str, media: Media,
                     progress: Progress | None) -> int:
    """Stream one blob into the zip chunk by chunk, checking its sha256 on the way."""
    info = zipfile.ZipInfo(name, _zip_time(media.created_at))
    info.compress_type = (zipfile.ZIP_STORED if media.kind in STORED_KINDS
                          else zipfile.ZIP_DEFLATED)
    large = media.size is None or media.size >= zipfile.ZIP64_LIMIT
    handle = await asyncio.to_thread(archive.open, info, "w", force_zip64=large)
    digest, written = hashlib.sha256(), 0
    try:
        async for chunk in ctx.blobs.stream(media.sha256):
            digest.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
            written += len(chunk)
            if progress:
                progress(len(chunk))
    finally:
        await asyncio.to_thread(handle.close)
    if digest.hexdigest() != media.sha256:
        raise BlobMismatch(f"blob {media.sha256} does not hash to its name")
    return written


def _write_text(archive: zipfile.ZipFile, name: str, text: str) -> None:
    archive.writestr(zipfile.ZipInfo(name, _zip_time(None)), text.encode("utf-8"),
                     compress_type=zipfile.ZIP_DEFLATED)


async def _fill(ctx: Context, archive: zipfile.ZipFile, export: BriefExport, bundle: Bundle,
                progress: Progress | None) -> None:
    names = zip_names(export)
    for entry in export.files:
        if not await ctx.blobs.exists(entry.media.sha256):
            bundle.missing.append(entry.media.sha256)
            names.pop(entry.media.id)
            continue
        bundle.bytes += await _copy_blob(ctx, archive, names[entry.media.id], entry.media,
                                         progress)
        bundle.files += 1
    filenames = {m.media.id: m.filenames for m in export.media}
    for item in export.items:
        shown = [f for mid in export.item_media[item.id] for f in filenames.get(mid, [])]
        await asyncio.to_thread(_write_text, archive, f"items/{item.id}.txt",
                                item_text(item, shown))
    if export.links:
        await asyncio.to_thread(_write_text, archive, "links.txt", "\n".join(export.links) + "\n")
    metadata = export_json(export, names)
    metadata["missing"] = bundle.missing
    await asyncio.to_thread(_write_text, archive, "metadata.json",
                            json.dumps(metadata, ensure_ascii=False, indent=2, default=str))


async def write_zip(ctx: Context, export: BriefExport, target: Path,
                    progress: Progress | None = None) -> Bundle:
    """One brief's zip at `target` (written beside it, then renamed into place)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    bundle = Bundle(export.brief.ref, target)
    archive = await asyncio.to_thread(zipfile.ZipFile, part, "w")
    try:
        await _fill(ctx, archive, export, bundle, progress)
        await asyncio.to_thread(archive.close)
        await asyncio.to_thread(os.replace, part, target)
    except BaseException:
        await asyncio.to_thread(_discard, archive, part)
        raise
    return bundle


def _discard(archive: zipfile.ZipFile, part: Path) -> None:
    # It is being thrown away: closing a half-written zip may fail, and that is expected.
    with contextlib.suppress(OSError, ValueError, zipfile.BadZipFile):
        archive.close()
    part.unlink(missing_ok=True)


async def write_bundle(ctx: Context, ref: str, out_dir: Path,
                       progress: Progress | None = None) -> Bundle:
    """`out_dir/<REF>.zip` for one brief; LookupError when there is no such brief."""
    export = await brief_export(ctx, ref)
    if export is None:
        raise LookupError(f"no brief {ref}")
    return await write_zip(ctx, export, Path(out_dir) / f"{export.brief.ref}.zip", progress)


async def write_bundles(ctx: Context, out_dir: Path,
                        done: Callable[[Bundle], None] | None = None) -> list[Bundle]:
    """One zip per brief that has matched items, into `out_dir`."""
    bundles = []
    async for export in brief_exports(ctx, with_items_only=True):
        bundle = await write_zip(ctx, export, Path(out_dir) / f"{export.brief.ref}.zip")
        bundles.append(bundle)
        if done:
            done(bundle)
    return bundles

