"""Telegram intake end to end: the fake Bot API, the real PTB client, `intake serve`'s roles."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from channels.telegram import SECRET_HEADER, bot_id_of, raw_item
from intake.chat import outbox as chat_outbox
from intake.context import build_context
from intake.pipeline.accept import accept, raw_bytes
from intake.review import actions as review
from intake.review.actions import resolve
from intake.serve import serve
from store.migrate import upgrade
from store.models import Brief, Chat, Event, ItemMedia, Outbound
from store.queries import claim_items
from tests.helpers import FailingInserts, make_email, send_async, wait_for
from tests.telegram import updates as tg
from tests.telegram.conftest import (
    add_brief,
    database,
    free_port,
    items_of,
    media_rows,
    processed,
    replies_containing,
    rows,
    serving,
)
from tests.telegram.fake_api import BOT_USERNAME

REPO = Path(__file__).resolve().parents[2]
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 64


async def test_deep_link_binds_the_chat_and_its_video_matches(fake_api, tg_settings):
    settings = tg_settings()
    brief = await add_brief(settings, "Mobile clinics for nomadic herders")
    amina = tg.user(501, language="fr")
    video = fake_api.add_file("vid-501", MP4)
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.command(f"/start {brief.ref}", sender=amina))
        bound = await wait_for(replies_containing(fake_api, brief.ref, 501))
        fake_api.push(tg.video(video, sender=amina))
        filed = await wait_for(replies_containing(fake_api, "Classé sous", 501))
        start, clip = await processed(ctx, 2)

    assert "Mobile clinics" in bound[0]["text"] and "liée" in bound[0]["text"]  # French
    assert start.status == "handled" and start.features["role"] == "command"
    assert clip.status == "matched" and clip.brief_id == brief.id
    assert clip.rule == "chat_context" and clip.sender == "tg:501"
    assert filed[0]["reply_parameters"]["message_id"] == clip.source["message_id"]
    async with database(settings) as ctx:
        (chat,) = await rows(ctx, Chat)
        (media,) = await media_rows(ctx)
        assert await ctx.blobs.get_bytes(media.sha256) == MP4
    assert chat.chat_id == "501" and chat.brief_id == brief.id and chat.language == "fr"
    assert media.sha256 == hashlib.sha256(MP4).hexdigest()
    assert media.external_id == "vid-501" and media.kind == "video"

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(2000)


async def test_album_of_three_becomes_one_item(fake_api, tg_settings):
    settings = tg_settings()
    brief = await add_brief(settings, "Community seed banks")
    sender = tg.user(502)
    photos = [fake_api.add_file(f"alb-{n}", JPEG + bytes([n])) for n in range(3)]
    async with serving(settings, fake=fake_api) as ctx:
        for n, fake_file in enumerate(photos):
            caption = f"Seed bank photos {brief.ref}" if n == 0 else None
            fake_api.push(tg.photo(fake_file, caption, sender=sender, media_group_id="grp-1"))
        items = await processed(ctx, 3)
        await wait_for(replies_containing(fake_api, brief.ref, 502))
        async with ctx.db.reader()() as session:
            links = list(await session.scalars(select(ItemMedia).order_by(ItemMedia.id)))
            owed = list(await session.scalars(select(Outbound)))

    first, *parts = items
    assert first.status == "matched" and first.brief_id == brief.id
    assert first.rule == "reference_code"
    assert [p.status for p in parts] == ["handled", "handled"]
    assert {p.features["merged_into"] for p in parts} == {first.id}
    assert {link.item_id for link in links} == {first.id} and len(links) == 3
    assert len(owed) == 1 and len(fake_api.messages_to(502)) == 1  # one reply per album


async def test_video_over_the_download_limit_is_recorded_and_the_sender_told(
        fake_api, tg_settings):
    settings = tg_settings(ack_from="videos@intake.example")
    sender = tg.user(503)
    declared = fake_api.add_file("big-1", b"not downloaded", size=25_000_000)
    undeclared = fake_api.add_file("big-2", b"not downloaded", size=25_000_000)
    small = fake_api.add_file("small-1", MP4)
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.video(declared, "Irrigation field day", sender=sender))
        quiet = tg.video(undeclared, sender=sender)
        del quiet["message"]["video"]["file_size"]  # some clients leave it out
        fake_api.push(quiet)
        fake_api.push(tg.video(small, sender=sender))  # the chat is not blocked
        told = await wait_for(replies_containing(fake_api, "videos@intake.example", 503))
        await wait_for(replies_containing(fake_api, "Received", 503))
        big_1, big_2, ok = await processed(ctx, 3)
        await wait_for(lambda: _count(fake_api, 503, 3))
        media = {m.external_id: m for m in await media_rows(ctx)}

    assert "25.0 MB" in told[0]["text"] and "20.0 MB" in told[0]["text"]
    for item in (big_1, big_2):
        assert item.status == "unmatched" and "media_too_large" in item.flags
    assert "media_too_large" not in ok.flags
    assert media["big-1"].sha256 is None and media["big-1"].size == 25_000_000
    assert media["big-1"].flags == ["media_too_large"] and media["big-1"].kind == "video"
    assert media["big-2"].flags == ["media_too_large"]  # getFile answered "file is too big"
    assert media["small-1"].sha256 == hashlib.sha256(MP4).hexdigest()
    assert fake_api.calls.count("getFile") == 2  # not for the one declared too big


def _count(fake, chat_id, n):
    async def check():
        return len(fake.messages_to(chat_id)) >= n

    return check()


async def test_a_duplicate_update_is_one_item_and_one_reply(fake_api, tg_settings):
    settings = tg_settings()
    update = {"update_id": 77, **tg.update(text="Our water kiosk story", sender=tg.user(504))}
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(update)
        fake_api.push(update)  # in the same batch
        await processed(ctx, 1)
        await wait_for(replies_containing(fake_api, "Received", 504))
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(update)  # delivered again after a restart
        await wait_for(lambda: _confirmed(fake_api, 78))
        await processed(ctx, 1)
        (item,) = await items_of(ctx)
        events = await rows(ctx, Event)
    assert item.dedupe_key == f"telegram:{fake_api.token.split(':')[0]}:77"
    assert len(fake_api.messages_to(504)) == 1
    assert [e.action for e in events] == ["unmatched"]


async def _confirmed(fake, offset):
    return fake.confirmed >= offset


async def test_an_edited_message_updates_its_item(fake_api, tg_settings):
    settings = tg_settings()
    brief = await add_brief(settings, "Women-led fishing cooperatives")
    sender = tg.user(505)
    original = tg.update(text="Here is our practice", sender=sender)
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(original)
        await wait_for(replies_containing(fake_api, "Which practice", 505))
        fake_api.push(tg.edited(original, f"Here is our practice, code {brief.ref}"))
        updated = await wait_for(replies_containing(fake_api, "Updated", 505))
        item, edit = await processed(ctx, 2)

    assert item.status == "matched" and item.brief_id == brief.id
    assert brief.ref in item.features["text"]
    assert edit.status == "handled" and edit.features["merged_into"] == item.id
    assert updated[0]["reply_parameters"]["message_id"] == original["message"]["message_id"]


async def test_webhook_takes_updates_with_the_right_secret_only(fake_api, tg_settings):
    port = free_port()
    secret = "s3cret-Token_for_the-hook"
    settings = tg_settings(web_enabled=True, web_port=port, telegram_webhook_secret=secret,
                           telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/hook")
    url = f"http://127.0.0.1:{port}/telegram/hook"
    body = {"update_id": 900, **tg.update(text="Sent by webhook", sender=tg.user(506))}
    async with serving(settings, ("worker", "web", "telegram"), fake=fake_api) as ctx, \
            aiohttp.ClientSession() as http:
        wrong = await http.post(url, json=body, headers={SECRET_HEADER: "not-the-secret"})
        missing = await http.post(url, json=body)
        right = await http.post(url, json=body, headers={SECRET_HEADER: secret})
        again = await http.post(url, json=body, headers={SECRET_HEADER: secret})  # a retry
        other = await http.get(url)
        (item,) = await processed(ctx, 1)
        await wait_for(replies_containing(fake_api, "Received", 506))

    assert (wrong.status, missing.status, right.status, again.status) == (403, 403, 200, 200)
    assert other.status == 405
    assert fake_api.webhook["url"] == url and fake_api.webhook["secret_token"] == secret
    assert "getUpdates" not in fake_api.calls  # webhook and polling exclude each other
    assert item.source["chat_id"] == "506" and item.features["text"] == "Sent by webhook"


async def test_a_malformed_update_is_stored_and_flagged_and_the_bot_goes_on(
        fake_api, tg_settings):
    settings = tg_settings()
    broken = {"update_id": 31, "message": {"message_id": "x", "chat": "no chat here"}}
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(broken)
        fake_api.push(tg.update(text="After the broken one", sender=tg.user(507)))
        await wait_for(replies_containing(fake_api, "Received", 507))
        bad, good = await processed(ctx, 2)
        raw = await raw_bytes(ctx, bad.id)
        moved = await ctx.blobs.get_bytes(bad.raw_sha256)  # processing put it in the store

    assert json.loads(raw) == broken and moved == raw
    assert bad.status == "unmatched" and bad.flags == ["malformed_update"]
    assert "chat" in bad.features["malformed"]
    assert good.status == "unmatched" and good.features["text"] == "After the broken one"


async def test_a_restart_in_the_middle_of_new_keeps_the_answers(fake_api, tg_settings):
    settings = tg_settings()
    worker = tg.user(508, language="es")
    answers = ["Huertos escolares con bombas solares", "Perú", "local",
               "Falta de agua para los huertos", "Instalamos bombas solares",
               "Tres escuelas con huerto todo el año", "Ana, ana@example.org"]
    async with serving(settings, fake=fake_api):
        fake_api.push(tg.command("/new", sender=worker))
        await wait_for(replies_containing(fake_api, "1/7", 508))
        fake_api.push(tg.update(text=answers[0], sender=worker))
        await wait_for(replies_containing(fake_api, "2/7", 508))
    async with serving(settings, fake=fake_api) as ctx:  # a new process, the same database
        for number, text in enumerate(answers[1:], 3):
            fake_api.push(tg.update(text=text, sender=worker))
            if number <= 7:
                await wait_for(replies_containing(fake_api, f"{number}/7", 508))
        done = await wait_for(replies_containing(fake_api, "registrada", 508))
        (brief,) = await rows(ctx, Brief)
        (chat,) = await rows(ctx, Chat)
        items = await items_of(ctx)

    assert brief.ref in done[0]["text"] and f"t.me/{BOT_USERNAME}?start={brief.ref}" in (
        done[0]["text"])
    assert (brief.title, brief.country, brief.level) == tuple(answers[:3])
    assert brief.summary == answers[3] and brief.source == "chat"
    assert brief.contacts == ["tg:508"] and brief.extra["contact"] == answers[6]
    assert chat.brief_id == brief.id and "flow" not in chat.state
    assert {i.status for i in items} == {"handled"}  # answers are not practices


async def test_each_reply_lands_in_its_own_chat(fake_api, tg_settings):
    settings = tg_settings()
    senders = {601: tg.user(601), 602: tg.user(602, language="es"), 603: tg.user(603)}
    pushed = {}
    async with serving(settings, fake=fake_api) as ctx:
        for user_id, sender in senders.items():
            chat_id = -100999 if user_id == 603 else None  # one group chat
            update = tg.update(text=f"Practice from {user_id}", sender=sender, chat_id=chat_id)
            fake_api.push(update)
            pushed[update["message"]["chat"]["id"]] = update["message"]["message_id"]
        await processed(ctx, 3)
        await wait_for(lambda: _count_all(fake_api, 3))

    assert {int(m["chat_id"]) for m in fake_api.sent} == set(pushed)
    for message in fake_api.sent:
        assert message["reply_parameters"]["message_id"] == pushed[int(message["chat_id"])]
    (spanish,) = fake_api.messages_to(602)
    assert spanish["text"].startswith("Recibido")


async def _sent_rows(ctx):
    return [row for row in await rows(ctx, Outbound) if row.status == "sent"]


async def _count_all(fake, n):
    return len(fake.sent) >= n


async def test_a_rate_limited_reply_is_sent_after_the_wait(fake_api, tg_settings):
    settings = tg_settings()
    fake_api.throttle["sendMessage"] = 1  # the first sendMessage gets 429, retry_after 1
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.update(text="Hello", sender=tg.user(509)))
        await wait_for(replies_containing(fake_api, "Received", 509))
        (owed,) = await wait_for(lambda: _sent_rows(ctx))
    assert fake_api.calls.count("sendMessage") == 2
    assert owed.status == "sent" and owed.message_id.startswith("tg:509:")


async def test_an_unmatched_item_offers_the_chats_briefs_and_a_tap_files_it(
        fake_api, tg_settings):
    settings = tg_settings()
    used = await add_brief(settings, "Mangrove replanting by schools")
    sender = tg.user(510)
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.update(text=f"First video for {used.ref}", sender=sender))
        await wait_for(replies_containing(fake_api, "Filed under", 510))
        fake_api.push(tg.update(text="And one more clip", sender=sender))
        (question,) = await wait_for(replies_containing(fake_api, "Which practice", 510))
        button = question["reply_markup"]["inline_keyboard"][0][0]
        bot_message_id = 1000 + len(fake_api.sent) - 1
        fake_api.push(tg.callback(button["callback_data"], bot_message_id, sender=sender))
        await wait_for(replies_containing(fake_api, "Thank you, filed under", 510))
        fake_api.push(tg.callback(f"a:1:{used.id}", bot_message_id, sender=tg.user(666),
                                  chat_id=666))  # someone else's forged tap
        await wait_for(lambda: _answered(fake_api, 2))
        first, second, tap, forged = await processed(ctx, 4)
        events = [e for e in await rows(ctx, Event) if e.action == "assign"]

    assert button["text"].startswith(used.ref)
    assert second.status == "matched" and second.brief_id == used.id
    assert second.rule == "coordinator" and events[0].actor == "telegram:510"
    assert tap.status == forged.status == "handled" and len(events) == 1
    assert fake_api.answered[0]["text"] == f"Filed under {used.ref}"
    assert fake_api.answered[1]["text"] == "This choice is no longer available."


async def _answered(fake, n):
    return len(fake.answered) >= n


async def test_brief_command_files_the_items_waiting_for_a_code(fake_api, tg_settings):
    settings = tg_settings()
    brief = await add_brief(settings, "Village savings groups")
    sender = tg.user(511)
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.update(text="A practice without its code", sender=sender))
        await wait_for(replies_containing(fake_api, "/brief", 511))
        fake_api.push(tg.command(f"/brief {brief.ref.lower().replace('-', ' ')}",
                                 sender=sender))
        bound = await wait_for(replies_containing(fake_api, "now linked", 511))
        waiting, _command = await processed(ctx, 2)
        fake_api.push(tg.command("/status", sender=sender))
        status = await wait_for(replies_containing(fake_api, "What this chat sent", 511))
    assert "1 earlier message" in bound[0]["text"]
    assert waiting.status == "matched" and waiting.brief_id == brief.id
    assert f"#{waiting.id} message → {brief.ref}" in status[0]["text"]


async def test_the_same_video_by_email_and_by_chat_is_one_media(fake_api, tg_settings):
    port = free_port()
    settings = tg_settings(smtp_enabled=True, smtp_port=port)
    clip = fake_api.add_file("same-clip", MP4)
    email = make_email(subject="Our video", attachments=[("clip.mp4", MP4, "video/mp4")])
    async with serving(settings, ("worker", "smtp", "telegram"), fake=fake_api) as ctx:
        await send_async(port, email)
        fake_api.push(tg.video(clip, sender=tg.user(512)))
        await processed(ctx, 2)
        (media,) = await media_rows(ctx)
        links = await rows(ctx, ItemMedia)
    assert media.sha256 == hashlib.sha256(MP4).hexdigest()
    assert media.external_id == "same-clip"
    assert len(links) == 2 and len({link.item_id for link in links}) == 2


async def test_a_file_telegram_cannot_give_is_recorded_and_does_not_block(
        fake_api, tg_settings):
    settings = tg_settings()
    sender = tg.user(513)
    gone = fake_api.add_file("gone", MP4)
    del fake_api.files[gone.file_id]  # getFile: "invalid file_id"
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.video(gone, "the lost one", sender=sender))
        fake_api.push(tg.update(text="next message", sender=sender))
        lost, after = await processed(ctx, 2)
        await wait_for(lambda: _count(fake_api, 513, 2))
        (media,) = await media_rows(ctx)
    assert lost.status == "unmatched" and lost.flags == ["media_unavailable", "no_candidates"]
    assert media.flags == ["media_unavailable"]
    assert "invalid file_id" in media.details["reason"].lower()
    assert after.status == "unmatched"


async def test_an_update_is_acknowledged_only_once_stored(fake_api, tg_settings):
    settings = tg_settings()
    ctx = build_context(settings)
    await upgrade(ctx.db)  # the fault is a trigger on PostgreSQL: its table must be there
    failing = await FailingInserts.install(ctx.db, failures=3)
    async with serving(settings, fake=fake_api, ctx=ctx):
        update_id = fake_api.push(tg.update(text="Stored at last", sender=tg.user(514)))
        await wait_for(lambda: _failed(failing, ctx.db, 3), timeout=60)
        assert fake_api.confirmed <= update_id  # not acknowledged while storage fails
        await wait_for(replies_containing(fake_api, "Received", 514), timeout=60)
        await wait_for(lambda: _confirmed(fake_api, update_id + 1))
        (item,) = await processed(ctx, 1)
    assert item.features["text"] == "Stored at last"


async def _failed(fault, db, n):
    return await fault.refused(db) >= n


async def test_group_chats_bind_and_answer_in_the_group(fake_api, tg_settings):
    settings = tg_settings()
    brief = await add_brief(settings, "Cash transfers by mobile phone")
    group, lead, member = -100777, tg.user(515), tg.user(516, language="es")
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.command(f"/brief@{BOT_USERNAME} {brief.ref}", sender=lead,
                                 chat_id=group))
        await wait_for(replies_containing(fake_api, "now linked", group))
        fake_api.push(tg.update(text="/help@other_bot", sender=member, chat_id=group))
        fake_api.push(tg.update(text="Video from the field team", sender=member, chat_id=group))
        _bind, other_bot, note = await processed(ctx, 3)
        await wait_for(replies_containing(fake_api, "Archivado en", group))
    assert other_bot.status == "handled" and other_bot.features["role"] == "service"
    assert note.status == "matched" and note.brief_id == brief.id
    assert note.sender == "tg:516" and note.chat_id == str(group)
    assert len(fake_api.messages_to(group)) == 2  # bound, filed; nothing to the other bot's


async def test_telegram_check_names_the_bot_and_its_deep_link(fake_api, tmp_path):
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path / "data"),
           "INTAKE_TELEGRAM_TOKEN": fake_api.token, "INTAKE_TELEGRAM_API_URL": fake_api.url}
    good = await _run_cli(env, "telegram", "check")
    bad = await _run_cli({**env, "INTAKE_TELEGRAM_TOKEN": "123456789:wrong-secret"},
                         "telegram", "check")
    unset = await _run_cli({**env, "INTAKE_TELEGRAM_TOKEN": ""}, "telegram", "check")
    assert good[0] == 0, good
    assert f"@{BOT_USERNAME}" in good[1]
    assert f"INTAKE_TELEGRAM_BOT_USERNAME={BOT_USERNAME}" in good[2]  # links kit hint
    assert f"https://t.me/{BOT_USERNAME}?start=<REF>" in good[1]
    assert bad[0] == 1 and "123456789" in bad[2] and "wrong-secret" not in bad[1] + bad[2]
    assert unset[0] == 2


async def _run_cli(env: dict, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "intake.cli", *args, env=env, cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


async def test_a_local_bot_api_server_lifts_the_download_limit(fake_api, tg_settings, tmp_path):
    fake_api.local_dir = tmp_path / "bot-api-files"
    fake_api.local_dir.mkdir()
    settings = tg_settings(telegram_local_mode=True)
    big = MP4 + bytes(21_000_000)
    clip = fake_api.add_file("big-local", big)
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.video(clip, sender=tg.user(517)))
        (item,) = await processed(ctx, 1)
        (media,) = await media_rows(ctx)
    assert "media_too_large" not in item.flags
    assert media.size == len(big) and media.sha256 == hashlib.sha256(big).hexdigest()


async def test_a_reply_to_a_filed_message_is_filed_with_it(fake_api, tg_settings):
    settings = tg_settings()
    brief = await add_brief(settings, "Radio lessons for remote schools")
    sender = tg.user(518)
    first = tg.update(text=f"Lesson one {brief.ref}", sender=sender)
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(first)
        await wait_for(replies_containing(fake_api, "Filed under", 518))
        fake_api.push(tg.update(text="and the second lesson", sender=sender,
                                reply_to_message=first["message"]))
        _first, second = await processed(ctx, 2)
    assert second.status == "matched" and second.brief_id == brief.id
    assert second.rule == "chat_context"
    assert second.candidates[0]["evidence"] == f"reply to a message filed under {brief.ref}"


async def test_cancel_ends_new_and_text_is_a_practice_again(fake_api, tg_settings):
    settings = tg_settings()
    sender = tg.user(519)
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.command("/new", sender=sender))
        await wait_for(replies_containing(fake_api, "1/7", 519))
        fake_api.push(tg.command("/cancel", sender=sender))
        await wait_for(replies_containing(fake_api, "Stopped", 519))
        fake_api.push(tg.update(text="A practice after all", sender=sender))
        *_, practice = await processed(ctx, 3)
        briefs = await rows(ctx, Brief)
    assert practice.features["role"] == "content" and practice.status == "unmatched"
    assert briefs == []


async def test_a_webhook_without_its_secret_does_not_start(fake_api, tg_settings):
    settings = tg_settings(telegram_webhook_url="https://bot.example.org/telegram/hook")
    with pytest.raises(SystemExit, match="INTAKE_TELEGRAM_WEBHOOK_SECRET"):
        await serve(build_context(settings), ["worker", "telegram"], asyncio.Event())
    assert fake_api.webhook is None and fake_api.calls == []


async def test_a_coordinators_filing_is_told_to_the_chat_unless_undone(
        fake_api, tg_settings, monkeypatch):
    monkeypatch.setattr(chat_outbox, "IDLE_SECONDS", 0.2)
    monkeypatch.setattr(review, "FILED_NOTICE_DELAY", timedelta(seconds=1))
    settings = tg_settings()
    radio = await add_brief(settings, "Radio communautaire pour la vaccination")
    water = await add_brief(settings, "Points d'eau gérés par les femmes")
    sender = tg.user(521, language="fr")
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.update(text="Notre vidéo du marché", sender=sender))
        fake_api.push(tg.update(text="Une autre du village", sender=sender))
        first, second = await processed(ctx, 2)
        await wait_for(lambda: _count(fake_api, 521, 2))  # each asked which practice
        await resolve(ctx, first.id, "assign", "cora", ref=radio.ref)
        await resolve(ctx, second.id, "assign", "cora", ref=water.ref)
        await resolve(ctx, second.id, "undo", "cora")  # a slip, undone at once

        async def settled():
            notes = [row for row in await rows(ctx, Outbound) if row.reason == "filed_later"]
            return notes if notes and all(r.status != "pending" for r in notes) else None

        notes = await wait_for(settled)
    told = [m for m in fake_api.messages_to(521) if "maintenant classé" in m["text"]]
    assert [(n.item_id, n.status) for n in notes] == [(first.id, "sent"),
                                                      (second.id, "suppressed")]
    assert len(told) == 1 and radio.ref in told[0]["text"]
    assert told[0]["reply_parameters"]["message_id"] == first.source["message_id"]


async def test_a_tap_on_the_bots_own_buttons_is_not_announced_twice(fake_api, tg_settings):
    settings = tg_settings()
    brief = await add_brief(settings, "Mobile clinics")
    async with serving(settings, fake=fake_api) as ctx:
        fake_api.push(tg.update(text="A note", sender=tg.user(522)))
        (item,) = await processed(ctx, 1)
        # The question is queued by the worker's hook after the verdict: wait for it.
        await wait_for(lambda: rows(ctx, Outbound))
        await resolve(ctx, item.id, "assign", "telegram:522", ref=brief.ref)
        assert [r.reason for r in await rows(ctx, Outbound)] == [None]


async def test_the_reply_outbox_outlives_a_database_hiccup(fake_api, tg_settings, monkeypatch):
    monkeypatch.setattr(chat_outbox, "IDLE_SECONDS", 0.2)
    original, calls = chat_outbox.pending_replies, []

    async def hiccup(session, *args, **kwargs):
        calls.append(1)
        if len(calls) <= 2:  # the database is away for the outbox's first two looks
            raise OperationalError("SELECT", {}, OSError("connection refused"))
        return await original(session, *args, **kwargs)

    monkeypatch.setattr(chat_outbox, "pending_replies", hiccup)
    settings = tg_settings()
    async with serving(settings, fake=fake_api):
        fake_api.push(tg.update(text="Sent while the database blinked", sender=tg.user(523)))
        await wait_for(replies_containing(fake_api, "Received", 523), timeout=60)
    assert len(calls) > 2


async def test_an_update_that_kills_its_worker_each_time_is_answered_when_given_up(
        fake_api, tg_settings):
    settings = tg_settings()
    ctx = build_context(settings)
    await upgrade(ctx.db)
    poison = {"update_id": 77, **tg.update(text="The update nobody survives",
                                           sender=tg.user(524))}
    await accept(ctx, raw_item(json.dumps(poison).encode(), bot_id_of(fake_api.token)))
    for n in range(settings.max_attempts):  # taken up, and each time the worker died
        async with ctx.db.writer()() as session, session.begin():
            assert await claim_items(session, f"dead-{n}", 5, timedelta(0),
                                     settings.max_attempts)
    async with serving(settings, fake=fake_api, ctx=ctx):
        await wait_for(replies_containing(fake_api, "a coordinator will look", 524))
        (item,) = await items_of(ctx)
    assert item.status == "failed" and "never finished" in item.error
