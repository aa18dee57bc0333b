"""WhatsApp end to end: signed webhook POSTs → accept → worker → chat core → Graph replies."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import update

from channels.contract import RawItem
from intake.chat import outbox as chat_outbox
from intake.pipeline.accept import accept
from intake.upload.links import brief_of_token, signer_for
from store.models import Item, ItemMedia, Media, Outbound, utcnow
from tests.helpers import make_email, wait_for
from tests.telegram.conftest import add_brief, free_port, items_of, processed, rows
from tests.whatsapp import payloads as wa
from tests.whatsapp.conftest import serving
from tests.whatsapp.fake_graph import FakeGraph

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 64
WORKER = "22507000001"  # a field worker in Côte d'Ivoire: French by their number


def sent_to(graph: FakeGraph, wa_id: str, text: str):
    """An async predicate: what was sent to wa_id whose text (or body) contains `text`."""

    async def check() -> list[dict]:
        return [m for m in graph.messages_to(wa_id) if text in _text(m)]

    return check


def _text(message: dict) -> str:
    if message.get("type") == "text":
        return message["text"]["body"]
    if message.get("type") == "interactive":
        return message["interactive"]["body"]["text"]
    return ""


def event(*messages: dict, statuses: list[dict] = ()) -> dict:
    return wa.payload(wa.value(list(messages), statuses=list(statuses)))


async def test_a_code_binds_the_chat_then_a_video_is_matched_and_stored(graph, wa_settings):
    settings = wa_settings(web_port=free_port())
    brief = await add_brief(settings, "Points d'eau gérés par les femmes")
    clip = graph.add_medium(MP4)
    async with serving(settings) as (ctx, post):
        first = wa.text(brief.ref, sender=WORKER)  # what the wa.me link types in
        assert await post(event(first)) == 200
        bound = await wait_for(sent_to(graph, WORKER, brief.ref))
        assert await post(event(wa.video(clip, caption="Le puits du village",
                                         sender=WORKER))) == 200
        _, video = await processed(ctx, 2)
        filed = await wait_for(sent_to(graph, WORKER, "Classé"))
        (media,) = await rows(ctx, Media)
    assert bound[0]["context"] == {"message_id": first["id"]}  # in reply to their message
    assert "liée" in bound[0]["text"]["body"]  # French, from the +225 number
    assert video.status == "matched" and video.brief_id == brief.id
    assert video.rule == "chat_context" and video.sender == f"wa:{WORKER}"
    assert video.chat_id == f"+{WORKER}"  # never one of Telegram's integer chat ids
    assert media.sha256 == hashlib.sha256(MP4).hexdigest() and media.kind == "video"
    assert media.external_id == clip and graph.downloads == 1
    assert brief.ref in _text(filed[0])


async def test_an_unbound_video_gets_the_question_and_a_button_files_it(graph, wa_settings):
    settings = wa_settings(web_port=free_port())
    water = await add_brief(settings, "Points d'eau gérés par les femmes")
    radio = await add_brief(settings, "Radio communautaire pour la vaccination")
    clips = [graph.add_medium(MP4 + bytes([n])) for n in range(3)]
    async with serving(settings) as (ctx, post):
        # Two earlier videos named their codes: they are the chat's recent briefs.
        await post(event(wa.video(clips[0], caption=water.ref, sender=WORKER)))
        await post(event(wa.video(clips[1], caption=radio.ref, sender=WORKER)))
        await post(event(wa.video(clips[2], caption="Et celle-ci ?", sender=WORKER)))
        *_, third = await processed(ctx, 3)
        (question,) = await wait_for(sent_to(graph, WORKER, "quelle pratique"))
        buttons = question["interactive"]["action"]["buttons"]
        choice = next(b["reply"] for b in buttons if b["reply"]["id"].endswith(f":{radio.id}"))
        tap = wa.button_reply(choice["id"], choice["title"], to="wamid.OUT000003",
                              sender=WORKER)
        assert await post(event(tap)) == 200
        await wait_for(sent_to(graph, WORKER, "Merci"))
        (filed,) = await items_of(ctx, id=third.id)
    assert third.status == "unmatched" and question["interactive"]["type"] == "button"
    assert len(buttons) == 2 and all(len(b["reply"]["title"]) <= 20 for b in buttons)
    assert filed.status == "matched" and filed.brief_id == radio.id


async def test_the_same_video_by_email_and_by_whatsapp_is_one_medium(graph, wa_settings):
    settings = wa_settings(web_port=free_port())
    clip = graph.add_medium(MP4)
    email = make_email(subject="Notre vidéo", attachments=[("clip.mp4", MP4, "video/mp4")])
    async with serving(settings) as (ctx, post):
        await accept(ctx, RawItem("smtp", email, "message/rfc822", None, {}))
        await post(event(wa.video(clip, sender=WORKER)))
        await processed(ctx, 2)
        (media,) = await rows(ctx, Media)
        links = await rows(ctx, ItemMedia)
    assert media.sha256 == hashlib.sha256(MP4).hexdigest()
    assert len(links) == 2 and len({link.item_id for link in links}) == 2


async def test_statuses_reactions_and_unknown_types_are_stored_as_handled(graph, wa_settings):
    settings = wa_settings(web_port=free_port())
    async with serving(settings) as (ctx, post):
        assert await post(event(
            wa.message("reaction", {"message_id": "wamid.OUT1", "emoji": "👍"}, sender=WORKER),
            wa.message("hologram", {"id": "7"}, sender=WORKER),
            statuses=[wa.status("wamid.OUT1", "read", WORKER)])) == 200
        stored = await processed(ctx, 3)
    assert [i.status for i in stored] == ["handled", "handled", "handled"]
    assert [i.features["kind"] for i in stored] == ["messages", "messages", "statuses"]
    assert graph.sent == []  # nothing to answer


async def test_keywords_start_the_guided_questions_in_the_senders_language(graph, wa_settings):
    settings = wa_settings(web_port=free_port())
    answers = ["Huertos escolares con bombas solares", "Perú", "local", "Falta de agua",
               "Bombas solares", "Tres escuelas con huerto", "Ana, ana@example.org"]
    sender = "15550009999"  # a US number: English, until the keyword says Spanish
    async with serving(settings) as (ctx, post):
        await post(event(wa.text("Nuevo", sender=sender)))
        await wait_for(sent_to(graph, sender, "1/7"))
        for number, text in enumerate(answers, 2):
            await post(event(wa.text(text, sender=sender)))
            if number <= 7:
                await wait_for(sent_to(graph, sender, f"{number}/7"))
        (created,) = await wait_for(sent_to(graph, sender, "https://wa.me/15550104242?text="))
        await post(event(wa.text("estado", sender=sender)))
        await wait_for(sent_to(graph, sender, "HLH-"))
    assert "Gracias" in _text(created)


async def test_a_reply_outside_the_24_hour_window_is_suppressed_and_recorded(
        graph, wa_settings, monkeypatch):
    monkeypatch.setattr(chat_outbox, "IDLE_SECONDS", 0.2)
    settings = wa_settings(web_port=free_port())
    async with serving(settings, ("web",)) as (ctx, post):
        await post(event(wa.text("un vieux message", sender=WORKER)))
        async with ctx.db.writer()() as session, session.begin():
            await session.execute(update(Item).values(
                received_at=utcnow() - timedelta(hours=25)))
    async with serving(settings, ("worker", "whatsapp")) as (ctx, _):
        await processed(ctx, 1)

        async def settled():
            found = await rows(ctx, Outbound)
            return found if found and found[0].status != "pending" else None

        (row,) = await wait_for(settled)
    assert row.status == "suppressed" and "window" in row.reason
    assert graph.sent == []


async def test_with_a_template_the_closed_window_gets_the_template(graph, wa_settings):
    settings = wa_settings(web_port=free_port(), whatsapp_template="practice_update",
                           whatsapp_template_language="fr")
    graph.refuse(131047, "Re-engagement message", status=400)  # what Meta answers after 24 h
    async with serving(settings) as (ctx, post):
        await post(event(wa.text("bonjour", sender=WORKER)))
        (sent,) = await wait_for(lambda: _async(graph.messages_to(WORKER)))
    assert sent["type"] == "template"
    assert sent["template"] == {"name": "practice_update", "language": {"code": "fr"}}


async def test_a_video_over_16_mb_is_answered_with_the_upload_page(graph, wa_settings):
    settings = wa_settings(web_port=free_port(), web_base_url="https://intake.example.org/")
    huge = graph.add_medium(MP4, size=20_000_000)
    async with serving(settings) as (ctx, post):
        await post(event(wa.video(huge, sender=WORKER)))
        (item,) = await processed(ctx, 1)
        (note,) = await wait_for(sent_to(graph, WORKER, "https://intake.example.org/upload"))
        (media,) = await rows(ctx, Media)
    assert "16.0 MB" in _text(note) and "20.0 MB" in _text(note)
    assert item.flags and "media_too_large" in item.flags and graph.downloads == 0
    assert media.flags == ["media_too_large"] and media.details["whatsapp_media_id"] == huge


async def test_a_bound_chat_is_given_a_private_upload_link_for_its_brief(graph, wa_settings):
    """Issue 14: the chat knows the brief, so the link it gives needs only the file."""
    settings = wa_settings(web_port=free_port(), web_base_url="https://intake.example.org/")
    brief = await add_brief(settings, "Radios pour les agents de santé")
    huge = graph.add_medium(MP4, size=20_000_000)
    async with serving(settings) as (ctx, post):
        await post(event(wa.text(brief.ref, sender=WORKER)))
        await wait_for(sent_to(graph, WORKER, brief.ref))
        await post(event(wa.video(huge, sender=WORKER)))
        (note,) = await wait_for(sent_to(graph, WORKER, "https://intake.example.org/u/"))
        token = _text(note).split("https://intake.example.org/u/")[1].split()[0]
        bound = await brief_of_token(ctx, signer_for(ctx), token)
    assert bound is not None and bound[1] == brief.id
    assert "/upload" not in _text(note)


async def _async(value):
    return value
