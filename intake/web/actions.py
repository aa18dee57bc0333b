"""What the pages and the API both do: review actions, bulk assign, reprocess, survey import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aiohttp import web

from intake.context import Context
from intake.review.actions import ReviewError, check_brief, claim, requeue, resolve
from intake.review.users import Principal
from intake.web.state import CONTEXT, PROCESSOR
from intake.web.text import t

log = logging.getLogger(__name__)
CHUNK = 64 * 1024
SURVEY_SUFFIXES = (".csv", ".xlsx", ".xlsm", ".json")
MAX_FIELD = 10_000  # bytes of a plain (non-file) form field in an upload


async def settle(ctx: Context, user: Principal, item_id: int, action: str, **kw: str | None
                 ) -> dict:
    """One review action through intake.review.actions.resolve, named after the coordinator."""
    outcome = await resolve(ctx, item_id, action, user.name, **kw)
    return asdict(outcome)


async def bulk_assign(ctx: Context, user: Principal, ids: list[int], ref: str) -> dict:
    """Assign several items to one brief, each through resolve; one failure skips one item.
    A code that names no brief (or whose check fails) is one ReviewError, before any item."""
    ref = await check_brief(ctx, ref)
    assigned, skipped = [], []
    for item_id in dict.fromkeys(ids):  # keep order, drop repeats
        try:
            await resolve(ctx, item_id, "assign", user.name, ref=ref)
            assigned.append(item_id)
        except ReviewError as exc:
            skipped.append({"id": item_id, "reason": str(exc)})
    return {"ref": ref, "assigned": assigned, "skipped": skipped}


async def take_claim(ctx: Context, user: Principal, item: dict) -> bool:
    """Claim an unmatched item for the reviewer who opened it; False if someone else has it."""
    if not user.can_review or item["status"] not in ("unmatched", "failed"):
        return True
    return await claim(ctx, item["id"], user.name, ctx.settings.web_claim_minutes)


async def claim_item(ctx: Context, user: Principal, item_id: int) -> bool:
    return await claim(ctx, item_id, user.name, ctx.settings.web_claim_minutes)


async def release_claim(ctx: Context, user: Principal, item_id: int) -> bool:
    # A claim that ends now is no claim: review.claim with zero minutes releases ours.
    return await claim(ctx, item_id, user.name, minutes=0)


def processor(app: web.Application):  # noqa: ANN201 - intake.pipeline.worker.Processor, imported late
    """One Processor per app (its process pool starts on first use, closes with the app)."""
    slot = app[PROCESSOR]
    if "processor" not in slot:
        from intake.pipeline.worker import Processor

        slot["processor"] = Processor(app[CONTEXT])
    return slot["processor"]


async def requeue_item(app: web.Application, user: Principal, item_id: int) -> None:
    """Reprocess: hand the item back to the workers; the audit event names the user."""
    await requeue(app[CONTEXT], item_id, user.name)


async def close_app(app: web.Application) -> None:
    """on_cleanup: close the process pool survey imports re-match in."""
    proc = app[PROCESSOR].get("processor")
    if proc is not None:
        await asyncio.to_thread(proc.close)


# -- uploads -------------------------------------------------------------------------------


@dataclass
class Upload:
    """A streamed multipart form: plain fields, and file fields saved to temp files."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, Path]] = field(default_factory=dict)  # name → (filename, path)

    def remove(self) -> None:
        for _name, path in self.files.values():
            _remove(path)


def _too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=limit + 1,
                                         text=t("import.too_large", mb=limit // 1_000_000))


def _safe_name(filename: str) -> str:
    from parsers.sniff import safe_filename

    name = safe_filename(Path(filename).name, "upload")
    return name if Path(name).suffix.lower() in SURVEY_SUFFIXES else name + ".upload"


async def _save_part(part, budget: int, limit: int, spool: Path) -> tuple[Path, int]:  # noqa: ANN001
    # Its own private folder, so the file keeps the name the user gave it (the import
    # report and audit log show it) and nothing else ever sits beside it.
    path = Path(tempfile.mkdtemp(dir=spool, prefix="upload-")) / _safe_name(part.filename)
    used = 0
    try:
        with path.open("wb") as handle:
            while chunk := await part.read_chunk(CHUNK):
                used += len(chunk)
                if used > budget:
                    raise _too_large(limit)
                await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        _remove(path)
        raise
    return path, used


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


async def receive_upload(request: web.Request, limit: int) -> Upload:
    """Stream a multipart form to temp files under our own byte cap: request.multipart()
    is not limited by client_max_size."""
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise _too_large(limit)
    directory = request.app[CONTEXT].settings.spool_dir
    directory.mkdir(parents=True, exist_ok=True)
    upload, used = Upload(), 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.filename is None:
                value = await part.read_chunk(MAX_FIELD)
                upload.fields[part.name or ""] = value.decode("utf-8", "replace")
                continue
            if not part.filename:  # a file input left empty
                await part.release()
                continue
            path, size = await _save_part(part, limit - used, limit, directory)
            used += size
            upload.files[part.name or ""] = (part.filename, path)
    except BaseException:
        upload.remove()
        raise
    return upload


async def import_survey(app: web.Application, user: Principal, upload: Upload) -> dict:
    """The CLI's path: import_briefs, then rematch_unmatched; the same report."""
    from intake.review.survey import ImportFailed, import_briefs

    if "file" not in upload.files:
        raise ImportFailed(t("import.no_file"))
    filename, path = upload.files["file"]
    if path.suffix not in SURVEY_SUFFIXES:
        raise ImportFailed(t("import.bad_type", name=filename))
    mapping = upload.files.get("mapping")
    report = await import_briefs(app[CONTEXT], path, actor=user.name,
                                 mapping_file=mapping[1] if mapping else None)
    report.rematched = await processor(app).rematch_unmatched()
    return {**asdict(report), "file": path.name}
