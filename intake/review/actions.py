"""Coordinator actions, a fixed set applied by one function that web, CLI and tests call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from intake.context import Context
from parsers.refcode import new_code, one_slip_away, read_code
from store.acks import ack_message_id, last_review_actor, queue_filed
from store.chats import CHAT_CHANNELS, queue_filed_later
from store.models import Brief, Item, utcnow
from store.queries import add_event, brief_by_ref, events_of_item, in_hand, requeue_item
from store.web_queries import refs_among

ACTIONS = ("assign", "reject", "create_brief", "undo")
UNDOABLE = ("assign", "reject", "create_brief")
REJECT_REASONS = ("spam", "not_a_practice", "duplicate", "other")
SENDERS = (*CHAT_CHANNELS, "submitter")  # actors that are the item's own sender: a tap, a reply
# A filing is told to the sender this long after it, so that an undo straight away (a slip)
# is never announced; what is said is read from the item when it goes.
FILED_NOTICE_DELAY = timedelta(seconds=60)


class ReviewError(Exception):
    """A review action that cannot be applied; the message says why, for a person."""


class NotFound(ReviewError):
    pass


class Conflict(ReviewError):
    """Someone else holds the item's claim, or the action does not fit its state."""


@dataclass(frozen=True)
class Outcome:
    item_id: int
    status: str
    brief_ref: str | None
    event_id: int


def _state(item: Item) -> dict:
    return {"status": item.status, "brief_id": item.brief_id, "rule": item.rule,
            "confidence": item.confidence}


async def resolve(  # noqa: PLR0913 - the one entry point takes the action's arguments
    ctx: Context, item_id: int, action: str, actor: str, *, ref: str | None = None,
    reason: str | None = None, title: str | None = None,
) -> Outcome:
    """Apply one coordinator action to one item and write its audit event."""
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    async with ctx.db.writer()() as session, session.begin():
        item = await session.get(Item, item_id)
        if item is None:
            raise NotFound(f"no item {item_id}")
        _check_claim(item, actor)
        before, extra = _state(item), {}
        if action == "assign":
            brief = await find_brief(session, ref, ctx.settings.ref_prefix)
            ref = brief.ref
            _set(item, "matched", brief.id, "coordinator")
        elif action == "reject":
            _set(item, "rejected", None, "coordinator")
            item.flags = sorted(set(item.flags) | {f"rejected:{_reason(reason)}"})
        elif action == "create_brief":
            brief = await _new_brief(ctx, session, item, title)
            _set(item, "matched", brief.id, "coordinator")
        else:
            extra["undid"] = await _undo(session, item)
        item.claimed_by = item.claimed_until = None
        if action in ("assign", "create_brief") and item.brief_id != before["brief_id"]:
            await tell_submitter(ctx, session, item, actor)
        event = add_event(session, actor, action, item.id, item.brief_id, before=before,
                          reason=reason, ref=ref, **extra)
        await session.flush()
        brief_ref = await _ref_of(session, item.brief_id)
        return Outcome(item.id, item.status, brief_ref, event.id)


async def tell_submitter(ctx: Context, session, item: Item, actor: str) -> None:  # noqa: ANN001
    """An item was filed after its sender was answered (by a coordinator, or by a re-match
    once its survey record came in): the sender hears where it went, by chat or by email
    (a minute later, and not at all if undone by then). Not when the sender did it: a tap
    on the bot's buttons, or a reply naming a code, is answered there."""
    if actor.partition(":")[0] in SENDERS:
        return
    if item.channel in CHAT_CHANNELS and item.chat_id:
        await queue_filed_later(session, item)
    elif item.channel in ("smtp", "imap") and ctx.settings.smtp_relay_url:
        settings = ctx.settings
        await queue_filed(session, item, ack_message_id(settings.ack_from,
                                                        settings.smtp_hostname, item.id))


def notice_due_in(recorded_at: datetime) -> float:
    """Seconds until a filing notice recorded at `recorded_at` may go (0 or less: now)."""
    return (recorded_at + FILED_NOTICE_DELAY - utcnow()).total_seconds()


async def still_filed(session, item: Item | None, brief_id: int | None) -> bool:  # noqa: ANN001
    """Is the item still filed under that brief, and not by its sender's own fix (which is
    answered on its own)? Not after an undo or another brief."""
    if item is None or item.status != "matched" or item.brief_id != brief_id:
        return False
    actor = await last_review_actor(session, item.id)
    return actor is None or actor.partition(":")[0] not in SENDERS


def _set(item: Item, status: str, brief_id: int | None, rule: str | None) -> None:
    item.status, item.brief_id, item.rule = status, brief_id, rule
    item.confidence = 1.0 if status == "matched" else None


def _reason(reason: str | None) -> str:
    if not reason:
        raise ReviewError("a rejection needs a reason: " + ", ".join(REJECT_REASONS))
    return reason.strip()[:200]


def _check_claim(item: Item, actor: str) -> None:
    if item.claimed_by and item.claimed_by != actor and item.claimed_until and (
        item.claimed_until > utcnow()
    ):
        raise Conflict(f"item {item.id} is being reviewed by {item.claimed_by}")


class BadCode(ReviewError):
    """Text that reads as a code whose check symbol fails: a slip, not a brief."""


async def find_brief(session, ref: str | None, prefix: str) -> Brief:  # noqa: ANN001
    """The brief a coordinator typed: its code exactly, or read as leniently as matching
    reads mail ("hlh y9xtm 6", "HLHY9XTM6"); a code whose check fails says so, with the
    known codes one slip away."""
    if not ref or not ref.strip():
        raise ReviewError("assign needs a brief reference code")
    brief = await brief_by_ref(session, ref.strip())
    if brief is not None:
        return brief
    code = read_code(ref, prefix)
    if code is None:
        raise NotFound(f"no brief {ref.strip()}")
    if code.valid:
        brief = await brief_by_ref(session, code.code)
        if brief is None:
            raise NotFound(f"no brief {code.code}")
        return brief
    near = await refs_among(session, one_slip_away(code.code))
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    raise BadCode(f"{ref.strip()}: the check symbol (the last one) is wrong, so this is not "
                  f"a code we gave out{hint}")


async def check_brief(ctx: Context, ref: str) -> str:
    """The canonical code of the brief `ref` names, or the ReviewError saying what is wrong."""
    async with ctx.db.reader()() as session:
        return (await find_brief(session, ref, ctx.settings.ref_prefix)).ref


async def _new_brief(ctx: Context, session, item: Item, title: str | None) -> Brief:  # noqa: ANN001
    code = await new_brief_code(session, ctx.settings.ref_prefix)
    sender = item.sender if item.sender and "@" in item.sender else None
    brief = Brief(ref=code, title=(title or item.subject or f"Item {item.id}")[:500],
                  email=sender, source="coordinator", contacts=[], extra={})
    session.add(brief)
    await session.flush()
    return brief


async def requeue(ctx: Context, item_id: int, actor: str) -> None:
    """Reprocess: the item goes back through processing (after a fix, or to match it again).

    The workers take it up as if it had just arrived, whichever process runs the analyser
    for its kind; the web app never processes an item itself."""
    async with ctx.db.writer()() as session, session.begin():
        item = await session.get(Item, item_id)
        if item is None:
            raise NotFound(f"no item {item_id}")
        if in_hand(item):
            raise Conflict(f"item {item_id} is being processed right now")
        requeue_item(session, item, actor)
    ctx.wake.set()


async def new_brief_code(session, prefix: str) -> str:  # noqa: ANN001
    """A code no brief has yet (31^5 bodies: a redraw is rare, but it happens at scale)."""
    code = new_code(prefix)
    while await brief_by_ref(session, code) is not None:
        code = new_code(prefix)
    return code


async def _undo(session, item: Item) -> int:  # noqa: ANN001
    """Restore the state before the latest action not undone yet; returns that event's id."""
    events = await events_of_item(session, item.id, (*UNDOABLE, "undo"))
    undone = {e.detail.get("undid") for e in events if e.action == "undo"}
    target = next((e for e in events if e.action in UNDOABLE and e.id not in undone), None)
    if target is None:
        raise Conflict(f"item {item.id} has no action to undo")
    restore = target.detail.get("before", {})
    item.status = restore.get("status", "unmatched")
    item.brief_id = restore.get("brief_id")
    item.rule = restore.get("rule")
    item.confidence = restore.get("confidence")
    if target.action == "reject":
        item.flags = [f for f in item.flags if not f.startswith("rejected:")]
    return target.id


async def _ref_of(session, brief_id: int | None) -> str | None:  # noqa: ANN001
    if brief_id is None:
        return None
    brief = await session.get(Brief, brief_id)
    return brief.ref if brief else None


async def claim(ctx: Context, item_id: int, actor: str, minutes: int = 10) -> bool:
    """Take the review claim on an item for a while; False if another coordinator holds it."""
    async with ctx.db.writer()() as session, session.begin():
        item = await session.get(Item, item_id)
        if item is None:
            raise NotFound(f"no item {item_id}")
        try:
            _check_claim(item, actor)
        except Conflict:
            return False
        item.claimed_by = actor
        item.claimed_until = utcnow() + timedelta(minutes=minutes)
        return True
