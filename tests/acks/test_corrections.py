"""A submitter answers our acknowledgement with a code: the item is filed there, audited."""

from __future__ import annotations

from sqlalchemy import select

from store.models import Event, Item
from tests.acks.conftest import add_brief
from tests.acks.test_acks import deliver, items, outbound, settle
from tests.helpers import make_email


def reply_to(ack, sender: str, body: str, subject: str | None = None) -> bytes:
    """What a mail client sends when the submitter presses Reply on our acknowledgement."""
    message = ack.message
    quoted = "\n".join("> " + line for line in message.get_content().splitlines())
    return make_email(
        subject=subject or f"Re: {message['Subject']}", sender=sender,
        body=f"{body}\n\nOn Tue, 3 Jun 2026 at 10:00, {message['From']} wrote:\n{quoted}",
        headers={"In-Reply-To": message["Message-ID"],
                 "References": f"{message['References']} {message['Message-ID']}"},
    )


async def events(ctx, item_id: int) -> list[Event]:
    async with ctx.db.reader()() as session:
        return list(await session.scalars(
            select(Event).where(Event.item_id == item_id).order_by(Event.id)))


async def item(ctx, item_id: int) -> Item:
    async with ctx.db.reader()() as session:
        return await session.get(Item, item_id)


async def test_a_reply_with_the_code_files_an_unmatched_item(actx, acker, processor, sink):
    brief = await add_brief(actx, "Community radio for farmers")
    await deliver(actx, (make_email(subject="our video", sender="lea@example.org"),
                         "lea@example.org"))
    await settle(processor, acker)
    [original] = await items(actx)
    assert original.status == "unmatched"
    [ack] = sink.received

    await deliver(actx, (reply_to(ack, "lea@example.org", f"It is {brief.ref.lower()}, thanks"),
                         "lea@example.org"))
    await settle(processor, acker)

    original = await item(actx, original.id)
    assert (original.status, original.brief_id) == ("matched", brief.id)
    [assign] = [e for e in await events(actx, original.id) if e.action == "assign"]
    assert assign.actor == "submitter:lea@example.org" and assign.brief_id == brief.id
    reply = (await items(actx))[1]
    assert (reply.status, reply.brief_id) == ("matched", brief.id)
    # The submitter hears where the message went (a new brief, so not capped).
    assert len(sink.received) == 2
    confirmation = sink.received[1].message
    assert brief.ref in confirmation["Subject"] and "our video" in confirmation.get_content()
    assert confirmation["In-Reply-To"] == f"<{reply.message_id}>"


async def test_a_reply_naming_another_code_relinks_the_item(actx, acker, processor, sink):
    wrong = await add_brief(actx, "Mobile libraries")
    right = await add_brief(actx, "Mobile clinics")
    raw = make_email(subject=f"video {wrong.ref}", sender="max@example.org")
    await deliver(actx, (raw, "max@example.org"))
    await settle(processor, acker)
    [original] = await items(actx)
    assert original.brief_id == wrong.id
    [ack] = sink.received
    assert wrong.ref in ack.message.get_content()  # so the reply quotes the wrong code

    await deliver(actx, (reply_to(ack, "max@example.org", f"Sorry, it is for {right.ref}."),
                         "max@example.org"))
    await settle(processor, acker)

    original = await item(actx, original.id)
    assert (original.status, original.brief_id) == ("matched", right.id)
    [assign] = [e for e in await events(actx, original.id) if e.action == "assign"]
    assert assign.actor == "submitter:max@example.org"
    assert assign.detail["before"]["brief_id"] == wrong.id and assign.detail["ref"] == right.ref
    reply = (await items(actx))[1]
    assert reply.brief_id == right.id  # it quoted one code and named the other: the named one
    assert "Mobile clinics" in sink.received[1].message.get_content()


async def test_a_reply_from_someone_else_changes_nothing(actx, acker, processor, sink):
    first = await add_brief(actx, "Rain water tanks")
    second = await add_brief(actx, "Seed banks")
    await deliver(actx, (make_email(subject=f"video {first.ref}", sender="ned@example.org"),
                         "ned@example.org"))
    await settle(processor, acker)
    [ack] = sink.received
    await deliver(actx, (reply_to(ack, "mallory@example.net", f"it is {second.ref}"),
                         "mallory@example.net"))
    await settle(processor, acker)
    [original, reply] = await items(actx)
    assert original.brief_id == first.id
    assert all(e.action not in ("assign", "correction_requested")
               for e in await events(actx, original.id))
    assert reply.status == "unmatched"  # our quoted code and theirs: for a coordinator


async def test_a_confirmation_quoting_our_code_changes_nothing(actx, acker, processor, sink):
    brief = await add_brief(actx, "Solar lamps")
    await deliver(actx, (make_email(subject=f"video {brief.ref}", sender="ola@example.org"),
                         "ola@example.org"))
    await settle(processor, acker)
    [ack] = sink.received
    await deliver(actx, (reply_to(ack, "ola@example.org", "Great, thank you!"),
                         "ola@example.org"))
    await settle(processor, acker)
    [original, reply] = await items(actx)
    assert original.brief_id == brief.id and reply.brief_id == brief.id
    assert all(e.action != "assign" for e in await events(actx, original.id))
    # Same sender, same brief, same day: the thank-you gets no second acknowledgement.
    assert len(sink.received) == 1
    assert [r.status for r in await outbound(actx)] == ["sent", "suppressed"]


async def test_a_coordinators_decision_is_not_overridden(actx, acker, processor, sink):
    from intake.review.actions import resolve

    first = await add_brief(actx, "Water committees")
    second = await add_brief(actx, "Women's savings groups")
    await deliver(actx, (make_email(subject="our video", sender="pia@example.org"),
                         "pia@example.org"))
    await settle(processor, acker)
    [original] = await items(actx)
    await resolve(actx, original.id, "assign", "coordinator:ann", ref=first.ref)
    [ack] = sink.received
    await deliver(actx, (reply_to(ack, "pia@example.org", f"it is {second.ref}"),
                         "pia@example.org"))
    await settle(processor, acker)
    original = await item(actx, original.id)
    assert original.brief_id == first.id
    [request] = [e for e in await events(actx, original.id) if e.action == "correction_requested"]
    assert request.actor == "submitter:pia@example.org" and request.brief_id == second.id
