"""Acknowledgements through a real relay: what the submitter is told, and when nothing is sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from intake.context import build_context
from intake.pipeline.worker import Processor
from intake.replies import outbox as ack_outbox
from intake.replies.acks import install
from intake.review import actions as review
from intake.review.actions import resolve
from store.migrate import upgrade
from store.models import Item, Outbound
from tests.acks.conftest import ACK_FROM, ack_settings, add_brief
from tests.helpers import make_email, send_async, smtp_listener

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 2000


async def deliver(ctx, *mails: tuple[bytes, str]) -> None:
    """Each (raw, envelope sender) through our real SMTP channel."""
    async with smtp_listener(ctx) as port:
        for raw, mail_from in mails:
            await send_async(port, raw, mail_from=mail_from, rcpt=(ACK_FROM,))


async def settle(processor, acker) -> None:
    await processor.drain()
    await acker.outbox.flush()


async def outbound(ctx) -> list[Outbound]:
    async with ctx.db.reader()() as session:
        return list(await session.scalars(select(Outbound).order_by(Outbound.id)))


async def items(ctx) -> list[Item]:
    async with ctx.db.reader()() as session:
        return list(await session.scalars(select(Item).order_by(Item.id)))


async def test_a_matched_item_is_acknowledged_to_the_envelope_sender_in_the_briefs_language(
        actx, acker, processor, sink):
    brief = await add_brief(actx, "Kiosques à eau solaires", language="Français")
    raw = make_email(subject=f"Notre vidéo {brief.ref}", sender="alice@example.org",
                     body="Voici notre vidéo.", attachments=[("kiosque.mp4", MP4, "video/mp4")])
    await deliver(actx, (raw, "alice.bounces@mail.example.net"))
    await settle(processor, acker)

    [got] = sink.received
    [item] = await items(actx)
    assert item.status == "matched" and item.brief_id == brief.id
    assert got.rcpt_tos == ["alice.bounces@mail.example.net"]  # the envelope, not From:
    assert got.mail_from == ACK_FROM
    message = got.message
    assert message["To"] == "alice.bounces@mail.example.net"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["In-Reply-To"] == f"<{item.message_id}>"
    assert f"<{item.message_id}>" in message["References"]
    assert message["Content-Language"] == "fr"
    assert brief.ref in message["Subject"] and "Kiosques à eau solaires" in message["Subject"]
    body = message.get_content()
    assert "classé sous la fiche d'action" in body and brief.ref in body
    assert "kiosque.mp4" in body
    [row] = await outbound(actx)
    assert (row.status, row.brief_id, row.item_id) == ("sent", brief.id, item.id)
    assert message["Message-ID"] == f"<{row.message_id}>"
    assert row.recipient == "alice.bounces@mail.example.net"


async def test_an_unmatched_item_is_asked_for_its_code_in_english_by_default(
        actx, acker, processor, sink):
    await add_brief(actx, "Mobile clinics for nomadic herders")
    raw = make_email(subject="hello", body="the file", sender="zed@example.net")
    await deliver(actx, (raw, "zed@example.net"))
    await settle(processor, acker)

    [got] = sink.received
    assert got.message["Content-Language"] == "en"
    assert "which action brief" in got.message["Subject"]
    body = got.message.get_content()
    assert "reply to this message with your brief's code" in body
    [row] = await outbound(actx)
    assert (row.status, row.brief_id) == ("sent", None)


async def test_the_senders_language_is_used_when_the_brief_has_none(actx, acker, processor, sink):
    raw = make_email(subject="Vídeo de nuestra práctica", sender="ana@example.es",
                     body="Hola, adjunto el vídeo de nuestra práctica para la convocatoria. "
                          "Gracias por su ayuda.")
    await deliver(actx, (raw, "ana@example.es"))
    await settle(processor, acker)
    [got] = sink.received
    assert got.message["Content-Language"] == "es"
    assert "no hemos podido determinar" in got.message.get_content()


async def test_user_text_cannot_inject_headers(actx, acker, processor, sink):
    brief = await add_brief(actx, "Title\r\nBcc: victim@example.org\nX-Evil: 1")
    raw = make_email(subject=f"video {brief.ref}", sender="eve@example.net")
    await deliver(actx, (raw, "eve@example.net"))
    await settle(processor, acker)
    [got] = sink.received
    assert got.message["Bcc"] is None and got.message["X-Evil"] is None
    assert got.rcpt_tos == ["eve@example.net"]
    assert "Title Bcc: victim@example.org X-Evil: 1" in got.message["Subject"]


LOOPS = {
    # case: (headers, From:, MAIL FROM, subject, body, expected reason prefix)
    "auto_submitted": ({"Auto-Submitted": "auto-generated"}, "a1@example.org", "a1@example.org",
                       "Notification", "x", "auto_submitted"),
    "precedence_bulk": ({"Precedence": "bulk"}, "a2@example.org", "a2@example.org", "News", "x",
                        "precedence"),
    "precedence_list": ({"Precedence": "list"}, "a3@example.org", "a3@example.org", "Digest",
                        "x", "precedence"),
    "list_id": ({"List-Id": "<videos.lists.example.org>"}, "a4@example.org", "a4@example.org",
                "On the list", "x", "list_header"),
    "null_sender": ({}, "a5@example.org", "<>", "Bounce?", "x", "null_sender"),
    "mailer_daemon": ({}, "MAILER-DAEMON@mx.example.org", "MAILER-DAEMON@mx.example.org",
                      "Undelivered", "x", "robot_sender"),
    "postmaster": ({}, "postmaster@example.org", "postmaster@example.org", "Notice", "x",
                   "robot_sender"),
    "noreply": ({}, "noreply@example.org", "noreply@example.org", "Receipt", "x",
                "robot_sender"),
    "our_own_address": ({}, ACK_FROM, ACK_FROM, "Forwarded to ourselves", "x", "own_address"),
    "forged_sender": ({"Authentication-Results": "mx.intake.example; spf=fail "
                       "smtp.mailfrom=victim.example"}, "v@victim.example", "v@victim.example",
                      "Your invoice", "x", "forged_sender"),
    "ooo_english": ({}, "b1@example.org", "b1@example.org", "Out of Office: back Monday",
                    "I am out of the office until Monday.", "out_of_office"),
    "ooo_french": ({}, "b2@example.org", "b2@example.org", "Réponse automatique : absent",
                   "Bonjour, je suis absent du bureau.", "out_of_office"),
    "ooo_spanish": ({}, "b3@example.org", "b3@example.org", "Respuesta automática",
                    "Estoy fuera de la oficina hasta el lunes.", "out_of_office"),
    "ooo_body_only": ({}, "b4@example.org", "b4@example.org", "Re: your video",
                      "Hola, estoy de vacaciones hasta el 3 de junio.", "out_of_office"),
}


def _delivery_report(sender: str) -> bytes:
    """A real-shaped DSN: multipart/report from MAILER-DAEMON-less but null-envelope relay."""
    return (
        f"From: Mail Delivery System <{sender}>\r\nTo: {ACK_FROM}\r\n"
        "Subject: Delivery Status Notification (Failure)\r\n"
        "Message-ID: <dsn-1@mx.example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; x@example.org\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n--b--\r\n"
    ).encode()


async def test_no_answer_to_robots_lists_bounces_ourselves_or_out_of_office(
        actx, acker, processor, sink):
    mails = [(make_email(subject=subject, body=body, sender=sender, headers=headers), mail_from)
             for headers, sender, mail_from, subject, body, _ in LOOPS.values()]
    mails.append((_delivery_report("dsn@mx.example.org"), "dsn@mx.example.org"))
    await deliver(actx, *mails)
    await settle(processor, acker)

    assert sink.received == []
    rows = await outbound(actx)
    assert [r.status for r in rows] == ["suppressed"] * (len(LOOPS) + 1)
    reasons = {r.item_id: r.reason for r in rows}
    all_items = await items(actx)
    expected = [case[-1] for case in LOOPS.values()] + ["delivery_report"]
    for item, prefix in zip(all_items, expected, strict=True):
        assert reasons[item.id].startswith(prefix), (item.subject, reasons[item.id])
        assert item.status in ("matched", "unmatched")  # filed, never dropped
        assert ("out_of_office" in item.flags) == (prefix == "out_of_office"), item.subject


async def test_an_imap_item_is_answered_at_its_return_path(actx, acker, processor, sink):
    from channels.contract import EMAIL, RawItem
    from intake.pipeline.accept import accept

    raw = make_email(subject="video", sender="carol@example.org",
                     headers={"Return-Path": "<carol-envelope@example.org>"})
    await accept(actx, RawItem("imap", raw, EMAIL, "INBOX:1:7", {"mailbox": "x", "uid": 7}))
    raw2 = make_email(subject="video", sender="dan@example.org", headers={"Return-Path": "<>"})
    await accept(actx, RawItem("imap", raw2, EMAIL, "INBOX:1:8", {"mailbox": "x", "uid": 8}))
    await settle(processor, acker)
    [got] = sink.received
    assert got.rcpt_tos == ["carol-envelope@example.org"]
    rows = await outbound(actx)
    assert sorted(r.status for r in rows) == ["sent", "suppressed"]
    assert next(r for r in rows if r.status == "suppressed").reason == "null_sender"


async def test_only_email_channels_are_answered_by_email(actx, acker, processor, sink):
    from channels.contract import EMAIL, RawItem
    from intake.pipeline.accept import accept

    # An email that came some other way (an upload, a chat attachment) is not ours to answer.
    raw = make_email(subject="video", sender="kim@example.org")
    await accept(actx, RawItem("telegram", raw, EMAIL, "9", {"mail_from": "kim@example.org"}))
    await settle(processor, acker)
    [item] = await items(actx)
    assert item.status == "unmatched"  # processed like any email …
    assert sink.received == [] and await outbound(actx) == []  # … and not answered


async def test_two_items_from_one_sender_the_same_day_get_one_acknowledgement(
        tmp_path, database_url, sink):
    ctx = build_context(ack_settings(tmp_path, database_url, sink))
    await upgrade(ctx.db)
    acker, processor = install(ctx), Processor(ctx)
    try:
        brief = await add_brief(ctx, "School gardens")
        other = await add_brief(ctx, "Night schools")
        first = make_email(subject=f"part 1 {brief.ref}", sender="fay@example.org")
        second = make_email(subject=f"part 2 {brief.ref}", sender="fay@example.org")
        third = make_email(subject=f"other {other.ref}", sender="fay@example.org")
        await deliver(ctx, (first, "fay@example.org"), (second, "fay@example.org"))
        await settle(processor, acker)  # both in one batch: decided concurrently
        await deliver(ctx, (third, "fay@example.org"))
        await settle(processor, acker)
        rows = await outbound(ctx)
        by_brief = {(r.brief_id, r.status) for r in rows}
        assert by_brief == {(brief.id, "sent"), (brief.id, "suppressed"), (other.id, "sent")}
        assert next(r.reason for r in rows if r.status == "suppressed") == "daily_cap"
        assert len(sink.received) == 2
        # Processing an item again never answers it twice.
        [item, *_] = await items(ctx)
        await processor.reprocess(item.id, "test")
        await acker.outbox.flush()
        assert len(sink.received) == 2 and len(await outbound(ctx)) == 3
    finally:
        processor.close()
        await ctx.close()


async def test_a_relay_that_says_try_later_gets_the_message_again(
        actx, acker, processor, sink, monkeypatch):
    monkeypatch.setattr(ack_outbox, "_retry_after", lambda attempts: 0.0)
    sink.refuse.append("451 4.3.0 try again later")
    await deliver(actx, (make_email(subject="x", sender="gus@example.org"), "gus@example.org"))
    await settle(processor, acker)
    assert sink.received == [] and [r.status for r in await outbound(actx)] == ["pending"]
    await acker.outbox.flush()
    assert len(sink.received) == 1 and [r.status for r in await outbound(actx)] == ["sent"]


async def test_a_refused_recipient_is_given_up(actx, acker, processor, sink):
    sink.refuse.append("550 5.1.1 no such user")
    await deliver(actx, (make_email(subject="x", sender="hal@example.org"), "hal@example.org"))
    await settle(processor, acker)
    [row] = await outbound(actx)
    assert row.status == "failed" and "550" in row.reason
    await acker.outbox.flush()
    assert sink.received == []


async def test_the_worker_role_sends_acknowledgements(tmp_path, sqlite_url, sink):
    """`intake serve --only worker,smtp` wires the hook and the outbox itself."""
    import asyncio

    from intake.serve import serve
    from tests.helpers import wait_for

    settings = ack_settings(tmp_path, sqlite_url, sink, web_enabled=False)
    ctx = build_context(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(ctx, ["worker"], stop))
    try:
        await wait_for(lambda: _ready(ctx), timeout=60)
        await deliver(ctx, (make_email(subject="x", sender="ivy@example.org"), "ivy@example.org"))
        await wait_for(lambda: _async(len(sink.received) == 1), timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def _ready(ctx) -> bool:
    return bool(ctx.after_process)


async def _async(value):
    return value


@pytest.mark.parametrize("url", ["ftp://relay", "smtp://", "smtp://user@relay:587"])
def test_bad_relay_settings_stop_start_up(tmp_path, sqlite_url, url):
    from intake.config import ConfigError

    ctx = build_context(ack_settings(tmp_path, sqlite_url, None, smtp_relay_url=url))
    with pytest.raises(ConfigError):
        install(ctx)


async def test_a_coordinators_filing_is_told_to_the_submitter_unless_undone(
        actx, acker, processor, sink, monkeypatch):
    monkeypatch.setattr(review, "FILED_NOTICE_DELAY", timedelta(0))
    radio = await add_brief(actx, "Radio communautaire", language="fr")
    water = await add_brief(actx, "Water points run by women's groups")
    await deliver(actx, (make_email(subject="notre vidéo", body="voici", sender="ana@example.net"),
                         "ana@example.net"),
                  (make_email(subject="one more", body="here", sender="bo@example.net"),
                   "bo@example.net"))
    await settle(processor, acker)
    assert len(sink.received) == 2  # each was asked for the code
    first, second = await items(actx)
    await resolve(actx, first.id, "assign", "cora", ref=radio.ref)
    await resolve(actx, second.id, "assign", "cora", ref=water.ref)
    await resolve(actx, second.id, "undo", "cora")  # a slip, undone at once
    await acker.outbox.flush()

    [told] = sink.received[2:]
    assert told.rcpt_tos == ["ana@example.net"]
    assert told.message["Subject"] == f"Auto: classé sous {radio.ref} Radio communautaire"
    assert "Votre message « notre vidéo » est maintenant classé" in told.message.get_content()
    assert told.message["In-Reply-To"] == f"<{first.message_id}>"
    notes = [r for r in await outbound(actx) if r.reason == "filed"]
    assert [(r.item_id, r.status) for r in notes] == [(first.id, "sent"),
                                                      (second.id, "suppressed")]


async def test_a_filing_waits_its_minute_and_the_submitters_own_fix_is_not_told_twice(
        actx, acker, processor, sink, monkeypatch):
    brief = await add_brief(actx, "Mobile clinics for nomadic herders")
    await deliver(actx, (make_email(subject="hello", body="the file", sender="zed@example.net"),
                         "zed@example.net"))
    await settle(processor, acker)
    [item] = await items(actx)
    await resolve(actx, item.id, "assign", "cora", ref=brief.ref)
    assert await acker.outbox.flush() > 1  # owed, not due yet: an undo may still come
    assert len(sink.received) == 1
    await resolve(actx, item.id, "undo", "cora")
    await resolve(actx, item.id, "assign", "submitter:zed@example.net", ref=brief.ref)
    monkeypatch.setattr(review, "FILED_NOTICE_DELAY", timedelta(0))
    await acker.outbox.flush()
    # The submitter's own fix is answered by its correction, not by cora's filing too.
    assert [r.status for r in await outbound(actx) if r.reason == "filed"] == ["suppressed"]
    assert len(sink.received) == 1


async def test_an_item_matched_once_its_survey_record_arrives_is_told_to_its_sender(
        actx, acker, processor, sink, monkeypatch):
    monkeypatch.setattr(review, "FILED_NOTICE_DELAY", timedelta(0))
    title = "Mobile vaccination brigades in rural communities"
    await deliver(actx, (make_email(subject=f"Video: {title}", body="our clip",
                                    sender="lu@example.net"), "lu@example.net"))
    await settle(processor, acker)  # no survey record yet: asked for the code
    brief = await add_brief(actx, title)  # the survey export comes in later
    assert await processor.rematch_unmatched() == 1
    await acker.outbox.flush()
    asked, told = sink.received
    assert "which action brief" in asked.message["Subject"]
    assert told.message["Subject"] == f"Auto: filed under {brief.ref} {title}"
    assert told.rcpt_tos == ["lu@example.net"]
