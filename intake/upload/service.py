"""The upload server's work, protocol-agnostic: create, report, write and end uploads."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from intake.context import Context
from intake.upload import spool
from intake.upload.finish import accept_upload
from intake.upload.links import LinkSigner, brief_of_token
from intake.upload.tus import STATUS_CHECKSUM_MISMATCH, Checksum, TusError
from parsers.refcode import is_valid
from parsers.sniff import safe_filename
from store.models import Upload, utcnow
from store.uploads import (
    FINISHED,
    OPEN,
    TERMINATED,
    brief_id_by_ref,
    confirm_offset,
    created_since,
    get_upload,
)

log = logging.getLogger(__name__)

WRITE_BYTES = 1 << 20  # bytes gathered before one write (and hash) in a thread
SYNC_BYTES = 16 << 20  # a long PATCH confirms its offset this often (fsync, then the row)
GB = 1_000_000_000
CREATION_WINDOW = timedelta(hours=1)  # INTAKE_UPLOAD_CREATIONS_PER_HOUR counts in this


class BodyCut(Exception):
    """The client's connection ended inside a PATCH body."""


@dataclass(frozen=True)
class Sender:
    """Who an upload is for: a private link's brief, or a typed code and an address."""

    brief_id: int | None
    link_id: str | None = None
    code: str | None = None
    email: str | None = None


def _valid_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain and len(value) <= 320 and " " not in value)


class Uploads:
    """One per web process: the running hashes and the per-upload locks live here."""

    def __init__(self, ctx: Context, signer: LinkSigner) -> None:
        self.ctx, self.signer = ctx, signer
        self.root = spool.upload_dir(ctx.settings.data_dir)
        self.hashes: dict[str, tuple[int, object]] = {}  # id → (offset, running sha256)
        self.locks: dict[str, asyncio.Lock] = {}

    def path(self, upload_id: str) -> spool.Path:
        return spool.part_path(self.root, upload_id)

    # -- creation -------------------------------------------------------------------------

    async def create(self, length: int, meta: dict[str, str], address: str) -> Upload:
        """A new upload, its spool file created; refused before any byte is stored."""
        await self._admit(length, address)
        who = await self.sender(meta)
        upload = Upload(
            id=secrets.token_hex(16), status=OPEN, length=length, offset=0,
            filename=safe_filename(meta.get("filename"), "upload")[:300],
            filetype=(meta.get("filetype") or None) and meta["filetype"][:200],
            brief_id=who.brief_id, link_id=who.link_id, code=who.code, email=who.email,
            language=(meta.get("lang") or "")[:16] or None, address=address[:64],
            created_at=utcnow(), expires_at=self._expiry())
        await asyncio.to_thread(spool.create, self.path(upload.id))
        async with self.ctx.db.writer()() as session, session.begin():
            session.add(upload)
        return upload

    async def _admit(self, length: int, address: str) -> None:
        settings = self.ctx.settings
        if length == 0:
            raise TusError(400, "The file is empty.")
        if length > settings.upload_max_bytes:
            raise TusError(413, f"This file is larger than the "
                                f"{settings.upload_max_bytes / GB:.1f} GB this page accepts.")
        wait = await self._creation_wait(address)
        if wait:
            raise TusError(429, "Too many uploads started from this address; "
                                "please try again later.", {"Retry-After": str(wait)})
        free = await asyncio.to_thread(spool.free_bytes, self.root)
        if free - length < settings.upload_min_free_bytes:
            log.error("upload of %d bytes refused: %d bytes free, floor %d", length, free,
                      settings.upload_min_free_bytes)
            raise TusError(507, "The server is short of disk space and cannot take new "
                                "uploads right now; please try again later.")

    async def _creation_wait(self, address: str) -> int:
        """Seconds until this address may start another upload; 0 when it may now. Counted
        from the uploads table, so every web process shares one budget per address."""
        limit, now = self.ctx.settings.upload_creations_per_hour, utcnow()
        async with self.ctx.db.reader()() as session:
            started = await created_since(session, address[:64], now - CREATION_WINDOW)
        if len(started) < limit:
            return 0
        frees_at = started[len(started) - limit] + CREATION_WINDOW
        return max(1, math.ceil((frees_at - now).total_seconds()))

    async def sender(self, meta: dict[str, str]) -> Sender:
        """Who the upload is for, from its metadata: a token, or a code and an address."""
        if meta.get("token"):
            found = await brief_of_token(self.ctx, self.signer, meta["token"])
            if found is None:
                raise TusError(404, "This upload link is not valid or has expired.")
            return Sender(found[1], link_id=found[0], email=self._email(meta, required=False))
        code = (meta.get("code") or "").strip().upper()
        if not is_valid(code):
            raise TusError(400, "Please give the reference code of your brief "
                                "(for example HLH-7K2QX-M).")
        async with self.ctx.db.reader()() as session:
            if await brief_id_by_ref(session, code) is None:
                raise TusError(404, "No brief has this reference code.")
        return Sender(None, code=code, email=self._email(meta, required=True))

    @staticmethod
    def _email(meta: dict[str, str], required: bool) -> str | None:
        email = (meta.get("email") or "").strip().lower()
        if not email and not required:
            return None
        if not _valid_email(email):
            raise TusError(400, "Please give a valid email address.")
        return email

    def _expiry(self):  # noqa: ANN202 - a datetime
        return utcnow() + timedelta(hours=self.ctx.settings.upload_expire_hours)

    # -- state ----------------------------------------------------------------------------

    async def get(self, upload_id: str) -> Upload:
        """The upload, or 404 (never heard of) / 410 (expired or terminated)."""
        if not upload_id.isalnum() or len(upload_id) > 32:
            raise TusError(404, "No such upload.")
        async with self.ctx.db.reader()() as session:
            upload = await get_upload(session, upload_id)
        if upload is None:
            raise TusError(404, "No such upload.")
        if upload.status == OPEN and upload.expires_at <= utcnow():
            raise TusError(410, "This upload has expired; please start again.")
        if upload.status not in (OPEN, FINISHED, "accepted"):
            raise TusError(410, "This upload has ended; please start again.")
        return upload

    async def terminate(self, upload_id: str) -> None:
        upload = await self.get(upload_id)
        if upload.status != OPEN:
            raise TusError(403, "A finished upload cannot be removed.")
        async with self._lock(upload_id):
            async with self.ctx.db.writer()() as session, session.begin():
                row = await get_upload(session, upload_id)
                row.status = TERMINATED
            await asyncio.to_thread(spool.remove, self.path(upload_id))
        self.hashes.pop(upload_id, None)

    def _lock(self, upload_id: str) -> asyncio.Lock:
        lock = self.locks.setdefault(upload_id, asyncio.Lock())
        if lock.locked():
            raise TusError(423, "This upload is already being written; try again shortly.")
        return lock

    # -- writing --------------------------------------------------------------------------

    async def write(self, upload_id: str, offset: int, body: AsyncIterator[bytes],
                    checksum: Checksum | None) -> Upload:
        """Append a PATCH body at `offset`; returns the upload with its confirmed offset."""
        upload = await self.get(upload_id)
        if upload.status != OPEN:
            if offset == upload.offset == upload.length:
                return upload  # a retried last PATCH: nothing more to take
            raise TusError(409, "This upload is already complete.")
        if offset != upload.offset:
            raise TusError(409, f"Upload-Offset {offset} does not match the upload's offset "
                                f"{upload.offset}.", {"Upload-Offset": str(upload.offset)})
        async with self._lock(upload_id):
            try:
                await self._write_body(upload, body, checksum)
            finally:
                self.locks.pop(upload_id, None)
        if upload.offset == upload.length:
            await self.finish(upload)
        return upload

    async def _running_hash(self, upload: Upload):  # noqa: ANN202 - a hashlib object
        kept = self.hashes.get(upload.id)
        if kept is not None and kept[0] == upload.offset:
            return kept[1].copy()
        # After a restart (or on another process) the prefix is hashed again, once.
        return await asyncio.to_thread(spool.hash_prefix, self.path(upload.id), upload.offset)

    async def _write_body(self, upload: Upload, body: AsyncIterator[bytes],
                          checksum: Checksum | None) -> None:
        digest = await self._running_hash(upload)
        writer = await asyncio.to_thread(spool.Writer, self.path(upload.id), upload.offset)
        state = _Progress(upload.offset)
        try:
            try:
                async for chunk in body:
                    await self._take(upload, writer, digest, state, chunk, checksum)
                await self._flush(writer, digest, state)
            except BodyCut:
                if checksum is not None:  # a body cut short cannot match its checksum
                    await asyncio.to_thread(writer.rollback, upload.offset)
                    return
                await self._flush(writer, digest, state)
            if checksum is not None and not checksum.holds():
                await asyncio.to_thread(writer.rollback, upload.offset)
                raise TusError(STATUS_CHECKSUM_MISMATCH,
                               "Checksum mismatch: this part was not kept; send it again.")
            await self._confirm(upload, writer, state.written)
            self.hashes[upload.id] = (state.written, digest)
        finally:
            await asyncio.to_thread(writer.close)

    async def _take(self, upload: Upload, writer: spool.Writer, digest, state: _Progress,  # noqa: ANN001
                    chunk: bytes, checksum: Checksum | None) -> None:
        if state.written + len(state.pending) + len(chunk) > upload.length:
            await asyncio.to_thread(writer.rollback, upload.offset)
            raise TusError(413, "More bytes were sent than the upload's declared length.")
        state.pending += chunk
        if checksum is not None:
            checksum.update(chunk)
        if len(state.pending) >= WRITE_BYTES:
            await self._flush(writer, digest, state)
            if checksum is None and state.written - upload.offset >= SYNC_BYTES:
                await self._confirm(upload, writer, state.written)

    @staticmethod
    async def _flush(writer: spool.Writer, digest, state: _Progress) -> None:  # noqa: ANN001
        if state.pending:
            data = bytes(state.pending)
            state.pending.clear()
            await asyncio.to_thread(_write_and_hash, writer, digest, data)
            state.written += len(data)

    async def _confirm(self, upload: Upload, writer: spool.Writer, offset: int) -> None:
        """fsync first, then record the offset: a confirmed offset is always on disk."""
        if offset == upload.offset:
            return
        await asyncio.to_thread(writer.sync)
        expires = self._expiry()
        async with self.ctx.db.writer()() as session, session.begin():
            await confirm_offset(session, upload.id, offset, expires)
        upload.offset, upload.expires_at = offset, expires

    # -- the end --------------------------------------------------------------------------

    async def finish(self, upload: Upload) -> None:
        """All bytes are in: record the hash, then hand the upload to accept as an item."""
        kept = self.hashes.pop(upload.id, None)
        if upload.sha256 is None:
            digest = kept[1] if kept and kept[0] == upload.length else await asyncio.to_thread(
                spool.hash_prefix, self.path(upload.id), upload.length)
            upload.sha256 = digest.hexdigest()
            async with self.ctx.db.writer()() as session, session.begin():
                row = await get_upload(session, upload.id)
                row.status, row.sha256, row.finished_at = FINISHED, upload.sha256, utcnow()
            upload.status = FINISHED
        upload.item_id = await accept_upload(self.ctx, upload)
        upload.status = "accepted"


@dataclass
class _Progress:
    written: int  # bytes written to the file (not yet necessarily fsync'd)
    pending: bytearray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.pending = bytearray()


def _write_and_hash(writer: spool.Writer, digest, data: bytes) -> None:  # noqa: ANN001
    writer.write(data)
    digest.update(data)  # hashlib releases the GIL for large buffers
