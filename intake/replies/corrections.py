"""A submitter's reply to our acknowledgement naming a brief files the acknowledged item there."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from intake.context import Context
from intake.review.actions import ReviewError, resolve
from parsers.autoreply import address_of
from parsers.replies import stated_codes
from store.acks import ack_in_thread, briefs_by_refs, last_review_actor
from store.models import Brief, Item
from store.queries import add_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Correction:
    """The acknowledged item now filed under a brief the submitter named."""

    item_id: int
    subject: str
    brief_id: int
    ref: str
    title: str


@dataclass(frozen=True)
class _Request:
    actor: str
    original: Item
    target: Brief


async def apply_correction(ctx: Context, reply: Item, envelope: str | None) -> Correction | None:
    """If `reply` answers one of our acknowledgements and names one other brief, file the
    acknowledged item (and the reply, when it is unmatched) under it, as the submitter."""
    request = await _request(ctx, reply, envelope)
    if request is None:
        return None
    original, target = request.original, request.target
    if original.status == "matched" and original.brief_id == target.id:
        return None  # already there: a confirmation, not a correction
    if not await _may_change(ctx, original, request.actor):
        await _note(ctx, request, reply, "a coordinator settled this item")
        return None
    why = f"named in reply (item {reply.id}) to our acknowledgement"
    try:
        await resolve(ctx, original.id, "assign", request.actor, ref=target.ref, reason=why)
    except ReviewError as exc:  # e.g. a coordinator holds the review claim right now
        await _note(ctx, request, reply, str(exc))
        return None
    if reply.status == "unmatched":  # it quotes our code and names another: it is theirs
        try:
            await resolve(ctx, reply.id, "assign", request.actor, ref=target.ref, reason=why)
        except ReviewError as exc:
            log.info("reply %s left for coordinators: %s", reply.id, exc)
    return Correction(original.id, original.subject or "", target.id, target.ref, target.title)


async def _request(ctx: Context, reply: Item, envelope: str | None) -> _Request | None:
    features = reply.features or {}
    async with ctx.db.reader()() as session:
        ack = await _answered_ack(session, reply, envelope, features)
        if ack is None:
            return None
        acked = await session.get(Brief, ack.brief_id) if ack.brief_id else None
        codes = stated_codes(reply.subject or "", features.get("text") or "",
                             ctx.settings.ref_prefix, [acked.ref] if acked else [])
        briefs = await briefs_by_refs(session, codes)
        if len(briefs) != 1:  # none named, or several: nothing to do, or for a coordinator
            return None
        original = await session.get(Item, ack.item_id)
    return _Request(f"submitter:{ack.recipient}", original, briefs[0])


async def _answered_ack(session, reply: Item, envelope: str | None,  # noqa: ANN001
                        features: dict):
    """Our acknowledgement of another item that this reply answers, from its own recipient."""
    ack = await ack_in_thread(session, features.get("references") or [])
    if ack is None or ack.item_id is None or ack.item_id == reply.id:
        return None
    if ack.recipient not in (address_of(envelope), (reply.sender or "").lower()):
        log.info("reply %s to acknowledgement %s comes from someone else; ignored",
                 reply.id, ack.id)
        return None
    return ack


async def _may_change(ctx: Context, original: Item, actor: str) -> bool:
    if original.status not in ("matched", "unmatched"):
        return False  # rejected (or in processing): a coordinator's business
    async with ctx.db.reader()() as session:
        last = await last_review_actor(session, original.id)
    return last is None or last == actor


async def _note(ctx: Context, request: _Request, reply: Item, why: str) -> None:
    """Leave the request in the item's history for the coordinator who settles it."""
    async with ctx.db.writer()() as session, session.begin():
        add_event(session, request.actor, "correction_requested", request.original.id,
                  request.target.id, ref=request.target.ref, reply_item=reply.id, why=why)
