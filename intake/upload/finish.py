"""A finished upload becomes a raw item of channel upload, through the one front door."""

from __future__ import annotations

from channels.contract import RawItem
from intake.context import Context
from intake.pipeline.accept import accept
from parsers.upload import CHANNEL, DESCRIPTOR_TYPE, UploadDescriptor
from store.models import Upload
from store.uploads import ACCEPTED, get_upload


def descriptor(upload: Upload) -> UploadDescriptor:
    return UploadDescriptor(
        upload_id=upload.id, sha256=upload.sha256, size=upload.length,
        filename=upload.filename, filetype=upload.filetype, brief_id=upload.brief_id,
        code=upload.code, email=upload.email, language=upload.language)


async def accept_upload(ctx: Context, upload: Upload) -> int:
    """accept the descriptor (its external id the upload's: a retry is a duplicate, not a
    second item); TryLater propagates, and the sweeper tries again."""
    source = {"address": upload.address, "upload_id": upload.id}
    if upload.email:
        source["mail_from"] = upload.email  # where the acknowledgement goes
    raw = RawItem(channel=CHANNEL, raw=descriptor(upload).to_bytes(),
                  content_type=DESCRIPTOR_TYPE, external_id=upload.id, source=source)
    accepted = await accept(ctx, raw)
    async with ctx.db.writer()() as session, session.begin():
        row = await get_upload(session, upload.id)
        row.status, row.item_id = ACCEPTED, accepted.item_id
    return accepted.item_id
