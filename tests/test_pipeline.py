"""An emailed video reaches its survey record: SMTP → accept → process → verdict, end to end."""

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from channels.contract import TELEGRAM_UPDATE, RawItem
from intake.pipeline.accept import accept
from intake.pipeline.worker import Processor
from intake.review.actions import Conflict, NotFound, requeue
from intake.review.survey import import_briefs
from intake.review.views import item_view, items_view
from store.models import Brief, Item
from store.queries import claim_items
from tests.helpers import make_email, send_async, smtp_listener

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "survey.csv"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 2000
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 600


@pytest.fixture
async def processor(ctx):
    proc = Processor(ctx)
    yield proc
    proc.close()


async def _brief(ctx, response_id):
    async with ctx.db.reader()() as session:
        return await session.scalar(select(Brief).where(Brief.response_id == response_id))


async def _deliver_and_process(ctx, processor, *raws):
    async with smtp_listener(ctx) as port:
        for raw in raws:
            await send_async(port, raw)
    await processor.drain()
    return await items_view(ctx)


async def test_a_video_with_the_code_in_the_subject_is_linked_to_its_brief(ctx, processor):
    await import_briefs(ctx, SAMPLE)
    brief = await _brief(ctx, "1002")
    raw = make_email(subject=f"Video {brief.ref.lower()}", sender="other@example.net",
                     attachments=[("brigadas.mp4", MP4, "video/mp4")])
    [item] = await _deliver_and_process(ctx, processor, raw)
    assert item["status"] == "matched" and item["brief_ref"] == brief.ref
    assert item["rule"] == "reference_code"
    assert "code_sender_mismatch" in item["flags"]
    [media] = item["media"]
    assert media["kind"] == "video" and media["sha256"] == hashlib.sha256(MP4).hexdigest()
    assert await ctx.blobs.get_bytes(media["sha256"]) == MP4


async def test_a_title_in_the_subject_is_enough(ctx, processor):
    await import_briefs(ctx, SAMPLE)
    brief = await _brief(ctx, "1003")
    raw = make_email(subject="Fwd: Школа здоровья для пациентов с диабетом — видео",
                     sender="unknown@example.net")
    [item] = await _deliver_and_process(ctx, processor, raw)
    assert (item["status"], item["brief_ref"], item["rule"]) == ("matched", brief.ref, "title")


async def test_the_survey_address_alone_matches_when_it_has_one_brief(ctx, processor):
    await import_briefs(ctx, SAMPLE)
    brief = await _brief(ctx, "1004")
    [item] = await _deliver_and_process(ctx, processor, make_email(
        subject="video", body="here it is", sender="Li.Wei@example.org"))
    assert (item["status"], item["brief_ref"], item["rule"]) == ("matched", brief.ref, "sender")


async def test_a_sender_with_two_briefs_is_left_for_a_coordinator(ctx, processor):
    await import_briefs(ctx, SAMPLE)
    [item] = await _deliver_and_process(ctx, processor, make_email(
        subject="our video", body="see attached", sender="amina.diallo@example.org"))
    assert item["status"] == "unmatched"
    refs = {c["brief_ref"] for c in item["candidates"]}
    assert refs == {(await _brief(ctx, "1001")).ref, (await _brief(ctx, "1006")).ref}


async def test_a_code_with_one_wrong_character_does_not_match_on_the_code(ctx, processor):
    await import_briefs(ctx, SAMPLE)
    brief = await _brief(ctx, "1005")
    body, check = brief.ref[:-1], brief.ref[-1]
    wrong = body + ("0" if check != "0" else "1")
    [item] = await _deliver_and_process(ctx, processor, make_email(
        subject=f"video {wrong}", body="", sender="x@example.net"))
    assert item["status"] == "unmatched"
    assert item["candidates"][0]["brief_ref"] == brief.ref
    assert item["candidates"][0]["rule"] == "reference_code_typo"


async def test_media_before_its_survey_record_is_matched_by_the_import(ctx, processor):
    raw = make_email(subject="Digital register of home births", sender="someone@example.net")
    [item] = await _deliver_and_process(ctx, processor, raw)
    assert item["status"] == "unmatched"
    await import_briefs(ctx, SAMPLE)
    assert await processor.rematch_unmatched() == 1
    [item] = await items_view(ctx)
    assert item["status"] == "matched" and item["brief_ref"] == (await _brief(ctx, "1006")).ref


async def test_hostile_and_odd_attachments_are_stored_safely(ctx, processor):
    raw = make_email(attachments=[
        ("../../etc/passwd", b"root:x:0:0", "text/plain"),
        ("empty.mp4", b"", "video/mp4"),
        ("holiday.mp4", ELF, "video/mp4"),
    ])
    [item] = await _deliver_and_process(ctx, processor, raw)
    by_name = {m["filename"]: m for m in item["media"]}
    assert set(by_name) == {"passwd", "empty.mp4", "holiday.mp4"}
    assert by_name["holiday.mp4"]["kind"] == "executable"
    assert "type_mismatch" in by_name["holiday.mp4"]["flags"]
    assert by_name["empty.mp4"]["size"] == 0 and "empty" in by_name["empty.mp4"]["flags"]
    assert "type_mismatch" in item["flags"]
    for media in item["media"]:
        assert "/" not in media["filename"]


async def test_encoded_headers_and_filenames_are_decoded(ctx, processor):
    raw = (
        b"From: =?utf-8?q?Jos=C3=A9?= <jose@example.org>\r\nTo: v@intake.example\r\n"
        b"Subject: =?utf-8?b?Vmlkw6lvIGRlIGxhIHByw6FjdGljYQ==?=\r\n"
        b"Message-ID: <enc@example.org>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nHola\r\n--XX\r\n"
        b"Content-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''vid%C3%A9o%20pr%C3%A1ctica.mp4\r\n\r\n"
        + __import__("base64").encodebytes(MP4).replace(b"\n", b"\r\n") + b"--XX--\r\n"
    )
    [item] = await _deliver_and_process(ctx, processor, raw)
    assert item["subject"] == "Vidéo de la práctica"
    assert item["sender"] == "jose@example.org"
    assert item["media"][0]["filename"] == "vidéo práctica.mp4"
    assert item["media"][0]["kind"] == "video"


async def test_raw_8bit_latin1_subject_is_not_lost(ctx, processor):
    raw = (b"From: a@example.org\r\nTo: v@intake.example\r\nSubject: Vid\xe9o caf\xe9\r\n"
           b"Message-ID: <latin1@example.org>\r\n\r\nbody\r\n")
    [item] = await _deliver_and_process(ctx, processor, raw)
    assert item["subject"] == "Vidéo café"


async def test_video_links_are_recorded_as_media(ctx, processor):
    raw = make_email(body="Our video: https://youtu.be/dQw4w9WgXcQ and "
                          "https://www.dropbox.com/s/abc/practice.mp4?dl=0.")
    [item] = await _deliver_and_process(ctx, processor, raw)
    links = [m["url"] for m in item["media"] if m["kind"] == "link"]
    assert links == ["https://youtu.be/dQw4w9WgXcQ", "https://www.dropbox.com/s/abc/practice.mp4?dl=0"]


async def test_the_same_video_twice_is_stored_once(ctx, processor):
    one = make_email(attachments=[("a.mp4", MP4, "video/mp4")])
    two = make_email(attachments=[("b.mp4", MP4, "video/mp4")])
    first, second = await _deliver_and_process(ctx, processor, one, two)
    assert first["media"][0]["id"] == second["media"][0]["id"]


async def test_a_failure_is_recorded_with_its_reason_and_can_be_rerun(ctx, processor,
                                                                      monkeypatch):
    async with smtp_listener(ctx) as port:
        await send_async(port, make_email())
    broken = {"on": True}
    original = processor._analyse

    async def flaky(item):
        if broken["on"]:
            raise RuntimeError("parser exploded")
        return await original(item)

    monkeypatch.setattr(processor, "_analyse", flaky)
    await processor.drain()
    [item] = await items_view(ctx)
    assert item["status"] == "failed" and item["error"] == "RuntimeError: parser exploded"
    assert item["attempts"] == 1
    broken["on"] = False
    assert await processor.reprocess(item["id"], "tester") == "unmatched"
    detail = await item_view(ctx, item["id"])
    assert detail["error"] is None
    assert [e["action"] for e in detail["events"]][:3] == ["unmatched", "reprocess", "failed"]


async def test_reprocess_here_queues_what_only_another_role_can_analyse(ctx, processor):
    """A Telegram update reprocessed where no telegram role runs (the CLI, a bare worker) is
    not failed for want of an analyser: it goes back to the queue, for the bot's process."""
    accepted = await accept(ctx, RawItem("telegram", b'{"update_id": 7}', TELEGRAM_UPDATE,
                                         "1:7"))
    assert await processor.drain() == 0  # not this process's kind: left in the queue
    assert await processor.reprocess(accepted.item_id, "tester") == "received"
    detail = await item_view(ctx, accepted.item_id)
    assert detail["status"] == "received" and detail["error"] is None
    assert detail["events"][0]["action"] == "reprocess"


async def test_an_item_in_a_workers_hands_is_not_reprocessed_beside_it(ctx, processor):
    async with smtp_listener(ctx) as port:
        await send_async(port, make_email())
    async with ctx.db.writer()() as session, session.begin():
        ids = await claim_items(session, "other-worker", 10, timedelta(minutes=2), 5)
    with pytest.raises(Conflict):
        await processor.reprocess(ids[0], "tester")
    with pytest.raises(Conflict):
        await requeue(ctx, ids[0], "tester")
    with pytest.raises(NotFound):
        await requeue(ctx, 999_999, "tester")
    assert (await item_view(ctx, ids[0]))["events"] == []  # nothing recorded


async def test_an_item_that_kills_its_worker_each_time_ends_failed_not_retried_for_ever(
        ctx, processor):
    async with smtp_listener(ctx) as port:
        await send_async(port, make_email())
    most = ctx.settings.max_attempts
    for n in range(most):  # each time taken up, the worker dies: its lease runs out
        async with ctx.db.writer()() as session, session.begin():
            [item_id] = await claim_items(session, f"dead-{n}", 10, timedelta(0), most)
    assert await processor.run_once() == 0  # not taken up a sixth time
    item = await item_view(ctx, item_id)
    assert item["status"] == "failed" and item["attempts"] == most
    assert item["error"].startswith(f"processing started {most} times and never finished")
    assert item["events"][0]["action"] == "failed"
    assert await processor.reprocess(item_id, "tester") == "unmatched"  # after the fix
    assert (await item_view(ctx, item_id))["attempts"] == 1


async def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_next_ones_result(
        ctx, processor, monkeypatch):
    """A worker stalled past its lease (a long pause): another took the item up meanwhile.
    The late verdict is dropped, the newer worker's lease and result stand."""
    async with smtp_listener(ctx) as port:
        await send_async(port, make_email())
    original = processor._analyse

    async def stalled(item):
        result = await original(item)
        async with ctx.db.writer()() as session, session.begin():  # the lease lapsed and
            taken = await session.get(Item, item.id)  # another worker claimed the item
            taken.worker, taken.worker_until = "the-other-worker", taken.worker_until
        return result

    monkeypatch.setattr(processor, "_analyse", stalled)
    assert await processor.run_once() == 1
    item = await item_view(ctx, 1)
    assert item["status"] == "received" and item["events"] == []
    async with ctx.db.reader()() as session:
        assert (await session.get(Item, 1)).worker == "the-other-worker"


async def test_items_left_received_by_a_crash_are_processed_at_start(ctx):
    async with smtp_listener(ctx) as port:
        await send_async(port, make_email())
    async with ctx.db.writer()() as session, session.begin():
        item = await session.scalar(select(Item))
        item.worker, item.worker_until = "dead-worker", None  # a lease the crash left behind
    import asyncio

    stop = asyncio.Event()
    proc = Processor(ctx)
    task = asyncio.create_task(proc.run(stop))
    from tests.helpers import wait_for

    async def processed():
        async with ctx.db.reader()() as session:
            return (await session.scalar(select(Item))).status != "received"

    await wait_for(processed)
    stop.set()
    await task
