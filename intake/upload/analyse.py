"""The worker's analyser for upload descriptors: type the file from its bytes, then match."""

from __future__ import annotations

import asyncio
from pathlib import Path

from intake.context import Context
from intake.pipeline.analyse import SNIFF_BYTES, Analysis, MatchOptions, SpooledFile, rematch
from intake.upload import spool
from parsers.sniff import sniff
from parsers.upload import DESCRIPTOR_TYPE, parse_descriptor
from store.models import Item


def _head(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(SNIFF_BYTES)
    except FileNotFoundError:
        return None


async def _head_of(ctx: Context, path: Path, sha256: str) -> bytes:
    """The first bytes, from the spool file, or from the blob store once it was moved
    there (a retry after the worker stored the file but failed to save the verdict)."""
    head = await asyncio.to_thread(_head, path)
    if head is not None:
        return head
    return b"".join([chunk async for chunk in ctx.blobs.stream_range(sha256, 0, SNIFF_BYTES - 1)])


async def analyse_upload(processor, item: Item, raw_path: Path, extra: list[dict],  # noqa: ANN001
                         options: MatchOptions) -> Analysis:
    ctx = processor.ctx
    desc = parse_descriptor(await asyncio.to_thread(raw_path.read_bytes))
    path = spool.part_path(spool.upload_dir(ctx.settings.data_dir), desc.upload_id)
    sniffed = sniff(await _head_of(ctx, path, desc.sha256), desc.safe_name)
    # The worker moves the spool file into the blob store (S3: in parts) before any row
    # names it, as it does for an email's attachments.
    spooled = SpooledFile(path=str(path), sha256=desc.sha256, size=desc.size,
                          mime=sniffed.mime, kind=sniffed.kind, filename=desc.safe_name,
                          declared_type=desc.filetype, flags=list(sniffed.flags))
    candidates = list(extra)
    if desc.brief_id is not None:
        candidates.append({"brief_id": desc.brief_id, "confidence": 1.0, "rule": "upload_link",
                           "evidence": "uploaded through the brief's private link"})
    features = desc.features().to_json()
    features.update(upload_id=desc.upload_id, size=desc.size)
    verdict = await processor.in_pool(rematch, features, candidates, options)
    return Analysis(features, [spooled], [], list(sniffed.flags), verdict)


def install(ctx: Context) -> None:
    ctx.analysers[DESCRIPTOR_TYPE] = analyse_upload
