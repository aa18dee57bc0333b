"""Coordinator actions through the one review function, each with its audit event and undo."""

import pytest
from sqlalchemy import select

from channels.contract import EMAIL, RawItem
from intake.pipeline.accept import accept
from intake.review.actions import Conflict, NotFound, ReviewError, claim, resolve
from intake.review.survey import import_briefs
from intake.review.views import item_view
from store.models import Brief
from tests.helpers import drain, make_email
from tests.test_pipeline import SAMPLE


@pytest.fixture
async def unmatched(ctx):
    await import_briefs(ctx, SAMPLE)
    accepted = await accept(ctx, RawItem("smtp", make_email(subject="a video", body="hi",
                                                            sender="x@example.net"), EMAIL))
    await drain(ctx)
    return accepted.item_id


async def _ref(ctx, response_id):
    async with ctx.db.reader()() as session:
        return (await session.scalar(select(Brief).where(Brief.response_id == response_id))).ref


async def test_assign_then_undo_restores_the_queue(ctx, unmatched):
    ref = await _ref(ctx, "1001")
    outcome = await resolve(ctx, unmatched, "assign", "maria", ref=ref.lower())
    assert (outcome.status, outcome.brief_ref) == ("matched", ref)
    item = await item_view(ctx, unmatched)
    assert (item["rule"], item["confidence"]) == ("coordinator", 1.0)
    assert item["events"][0]["actor"] == "maria" and item["events"][0]["action"] == "assign"
    undone = await resolve(ctx, unmatched, "undo", "maria")
    assert (undone.status, undone.brief_ref) == ("unmatched", None)
    with pytest.raises(Conflict):
        await resolve(ctx, unmatched, "undo", "maria")  # nothing left to undo


async def test_reject_needs_a_reason_and_is_flagged(ctx, unmatched):
    with pytest.raises(ReviewError, match="reason"):
        await resolve(ctx, unmatched, "reject", "maria")
    outcome = await resolve(ctx, unmatched, "reject", "maria", reason="spam")
    assert outcome.status == "rejected"
    assert "rejected:spam" in (await item_view(ctx, unmatched))["flags"]
    await resolve(ctx, unmatched, "undo", "maria")
    assert "rejected:spam" not in (await item_view(ctx, unmatched))["flags"]


async def test_create_brief_from_an_item(ctx, unmatched):
    outcome = await resolve(ctx, unmatched, "create_brief", "maria", title="Village radio")
    assert outcome.status == "matched" and outcome.brief_ref.startswith("HLH-")
    async with ctx.db.reader()() as session:
        brief = await session.scalar(select(Brief).where(Brief.ref == outcome.brief_ref))
    assert (brief.title, brief.source, brief.email) == ("Village radio", "coordinator",
                                                        "x@example.net")


async def test_unknown_things_are_clear_errors(ctx, unmatched):
    with pytest.raises(NotFound):
        await resolve(ctx, 99999, "assign", "maria", ref="HLH-00000-0")
    with pytest.raises(NotFound, match="no brief"):
        await resolve(ctx, unmatched, "assign", "maria", ref="HLH-00000-0")
    with pytest.raises(ReviewError, match="unknown action"):
        await resolve(ctx, unmatched, "delete", "maria")


async def test_a_claim_keeps_a_second_coordinator_off(ctx, unmatched):
    assert await claim(ctx, unmatched, "maria")
    assert not await claim(ctx, unmatched, "li")
    with pytest.raises(Conflict, match="maria"):
        await resolve(ctx, unmatched, "reject", "li", reason="spam")
    await resolve(ctx, unmatched, "reject", "maria", reason="spam")  # settling frees it
    assert await claim(ctx, unmatched, "li")
