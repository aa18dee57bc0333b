"""What the pages and the API both do: review actions, bulk assign, reprocess, survey import."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import tempfile
import time
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


# -- survey import in two steps: upload and see the columns, then pick and import ----------

PENDING = re.compile(r"^upload-[a-z0-9_]{6,16}$")  # tempfile.mkdtemp's folder names
OWNER = ".owner"  # in a pending upload's folder: who uploaded it
PENDING_SECONDS = 24 * 3600  # a pending upload nobody imported is removed after a day


def _survey_file(upload: Upload) -> tuple[str, Path]:
    from intake.review.survey import ImportFailed

    if "file" not in upload.files:
        raise ImportFailed(t("import.no_file"))
    filename, path = upload.files["file"]
    if path.suffix not in SURVEY_SUFFIXES:
        raise ImportFailed(t("import.bad_type", name=filename))
    return filename, path


async def import_survey(app: web.Application, user: Principal, upload: Upload) -> dict:
    """In one step (the API): the CLI's path, import_briefs, then rematch_unmatched."""
    from intake.review.survey import import_briefs

    _, path = _survey_file(upload)
    mapping = upload.files.get("mapping")
    report = await import_briefs(app[CONTEXT], path, actor=user.name,
                                 mapping_file=mapping[1] if mapping else None)
    report.rematched = await processor(app).rematch_unmatched()
    return {**asdict(report), "file": path.name}


async def stage_survey(app: web.Application, user: Principal, upload: Upload) -> dict:
    """Step 1: keep the uploaded export for step 2 and show its columns, picked as the
    mapping file says, else as last time, else as recognised."""
    from intake.review.survey import PICKABLE, as_choice, load_mapping, plan, preview, remembered

    ctx = app[CONTEXT]
    _, path = _survey_file(upload)
    mapping = upload.files.get("mapping")
    custom = load_mapping(mapping[1]) if mapping else {}
    preferred = await remembered(ctx)

    def read() -> tuple:  # reading and checking a large export takes a while: off the loop
        staged = plan(path, chosen=custom, preferred=preferred, require=False)
        return staged, preview(staged)

    staged, shown = await asyncio.to_thread(read)
    await asyncio.to_thread(_sweep, ctx.settings.spool_dir)
    (path.parent / OWNER).write_text(user.name, encoding="utf-8")
    upload.files.pop("file")  # kept: step 2 imports it
    return {"token": path.parent.name, "preview": shown,
            "picked": {name: staged.columns.get(name) for name in PICKABLE},
            "mapping": json.dumps({k: v for k, v in as_choice(custom).items()
                                   if k not in PICKABLE})}


def _sweep(spool: Path) -> None:
    """Remove pending uploads older than PENDING_SECONDS (a coordinator who went away)."""
    now = time.time()
    for owner in spool.glob(f"upload-*/{OWNER}"):
        if now - owner.stat().st_mtime > PENDING_SECONDS:
            shutil.rmtree(owner.parent, ignore_errors=True)


def pending_file(app: web.Application, user: Principal, token: str) -> Path:
    """The export uploaded in step 1 by this user, or ImportFailed."""
    from intake.review.survey import ImportFailed

    folder = app[CONTEXT].settings.spool_dir / token
    owner = folder / OWNER
    if not PENDING.match(token) or not owner.is_file() or \
            owner.read_text(encoding="utf-8") != user.name:
        raise ImportFailed(t("import.gone"))
    files = [p for p in folder.iterdir() if p.name != OWNER]
    if len(files) != 1:
        raise ImportFailed(t("import.gone"))
    return files[0]


def picks(form: dict) -> dict[str, list[str]]:
    """The form's selects (column numbers; "" for none) as a mapping by position."""
    from intake.review.survey import PICKABLE, ImportFailed

    chosen = {}
    for name in PICKABLE:
        value = str(form.get(name, "")).strip()
        if value and not value.isdigit():
            raise ImportFailed(t("error.bad_param", name=name))
        chosen[name] = [f"#{int(value) + 1}"] if value else []
    return chosen


async def import_pending(app: web.Application, user: Principal, token: str, form: dict
                         ) -> dict:
    """Step 2: import the pending export with the picked columns, remember them, re-match
    (the CLI's path: import_briefs, then rematch_unmatched; the same report)."""
    from intake.review.survey import as_choice, import_plan, plan, remember

    ctx = app[CONTEXT]
    path = pending_file(app, user, token)
    try:
        others = as_choice(json.loads(str(form.get("mapping") or "{}")))
    except ValueError:
        others = {}
    chosen = await asyncio.to_thread(plan, path, chosen={**others, **picks(form)})
    report = await import_plan(ctx, chosen, actor=user.name)
    await remember(ctx, chosen, user.name)
    shutil.rmtree(path.parent, ignore_errors=True)
    report.rematched = await processor(app).rematch_unmatched()
    return {**asdict(report), "file": path.name}


def drop_pending(app: web.Application, user: Principal, token: str) -> None:
    from intake.review.survey import ImportFailed

    with contextlib.suppress(ImportFailed):
        shutil.rmtree(pending_file(app, user, token).parent, ignore_errors=True)
