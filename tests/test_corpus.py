"""Every real-world message of the shared corpus goes in and comes out settled, none lost."""

import hashlib
import re

import pytest
from sqlalchemy import select

from channels.contract import EMAIL, RawItem
from intake.pipeline.accept import accept, raw_bytes
from store.models import Event, Item
from tests.conftest import CORPUS, corpus_files
from tests.helpers import drain, send_async, smtp_listener

FILES = corpus_files()
pytestmark = pytest.mark.skipif(not FILES, reason=f"corpus not found at {CORPUS}")


def as_smtp_client_sends(raw: bytes) -> bytes:
    """A mail client sends CRLF line ends (the corpus keeps upstream's, often bare LF), and
    ends the data with CRLF before the dot (smtplib adds it when missing)."""
    raw = re.sub(rb"\r?\n", b"\r\n", raw)
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


async def _settled_and_kept(ctx, sent: dict[str, bytes]) -> None:
    async with ctx.db.reader()() as session:
        items = list(await session.scalars(select(Item)))
        events = list(await session.scalars(
            select(Event).where(Event.action == "duplicate_delivery")))
    for item in items:
        assert item.status in ("matched", "unmatched", "failed"), (item.id, item.status)
        if item.status == "failed":
            assert item.error, f"item {item.id} failed without a reason"
    # Each raw is kept by its item (in the row or the blob store) or, for a second
    # delivery under the same Message-ID, in the blob store under its event.
    kept = {i.raw_sha256: i.id for i in items} | {e.detail["raw_sha256"]: None for e in events}
    for name, raw in sent.items():
        sha = hashlib.sha256(raw).hexdigest()
        assert sha in kept, f"{name} was acknowledged but is nowhere"
        item_id = kept[sha]
        assert await (raw_bytes(ctx, item_id) if item_id else ctx.blobs.get_bytes(sha)) == raw


async def test_every_corpus_message_over_smtp(ctx):
    sent = {}
    async with smtp_listener(ctx) as port:
        for path in FILES:
            raw = as_smtp_client_sends(path.read_bytes())
            refused = await send_async(port, raw, mail_from="corpus@example.org")
            assert refused == {}, path
            sent[str(path.relative_to(CORPUS))] = raw
    processed = await drain(ctx)
    assert processed > 0
    await _settled_and_kept(ctx, sent)


async def test_every_corpus_message_byte_exact_through_accept(ctx):
    """The IMAP path hands accept the exact bytes; bare LF, mbox 'From ' lines and all."""
    sent = {}
    for path in FILES:
        raw = path.read_bytes()
        await accept(ctx, RawItem("imap", raw, EMAIL, external_id=path.name))
        sent[path.name] = raw
    await drain(ctx)
    await _settled_and_kept(ctx, sent)
    async with ctx.db.reader()() as session:
        failed = list(await session.scalars(select(Item).where(Item.status == "failed")))
    # Parsing falls back rather than fails: a failure here is a bug to look at.
    assert failed == [], [(i.id, i.error) for i in failed]
