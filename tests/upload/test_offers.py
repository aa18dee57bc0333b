"""Where the upload page is offered: the SMTP 552 reply to oversize mail, and the
acknowledgement email (a private link bound to the brief, or the general page)."""

from __future__ import annotations

import asyncio
import re
import smtplib

import pytest
from sqlalchemy import select

from intake.context import build_context
from intake.pipeline.worker import Processor
from intake.replies.acks import install
from intake.upload.links import OFFERED_BY, brief_of_token, revoke, signer_for
from store.migrate import upgrade
from store.models import UploadLink
from tests.acks import conftest as acks
from tests.acks.conftest import ACK_FROM, ack_settings, add_brief
from tests.conftest import make_settings
from tests.helpers import make_email, send_async, smtp_listener


async def test_oversize_mail_gets_552_naming_the_upload_page(tmp_path, sqlite_url):
    ctx = build_context(make_settings(tmp_path, sqlite_url, smtp_max_bytes=100_000,
                                      web_base_url="https://intake.example.org"))
    await upgrade(ctx.db)
    raw = make_email(attachments=[("big.mp4", b"\0" * 200_000, "video/mp4")])
    try:
        async with smtp_listener(ctx) as port:
            def send() -> None:
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                    client.sendmail("a@example.org", ["v@intake.example"], raw)

            with pytest.raises(smtplib.SMTPException) as caught:
                await asyncio.to_thread(send)
    finally:
        await ctx.close()
    text = str(caught.value)
    assert "552" in text and "https://intake.example.org/upload" in text


# -- the acknowledgement email ----------------------------------------------------------------

sink = acks.sink  # the relay fixture of the acknowledgement tests
URL_RE = re.compile(r"https://intake\.example\.org/(?:u/[\w.]+|upload\S*)")


@pytest.fixture
async def offering(tmp_path, sqlite_url, sink):
    """A context that acknowledges through the sink and has a public web address."""
    ctx = build_context(ack_settings(tmp_path, sqlite_url, sink,
                                     web_base_url="https://intake.example.org"))
    await upgrade(ctx.db)
    processor, acker = Processor(ctx), install(ctx)
    yield ctx, processor, acker
    processor.close()
    await ctx.close()


async def _acknowledged(ctx, processor, acker, sink, raw: bytes, sender: str) -> str:
    """Send raw by SMTP, process it, and return the upload address its acknowledgement gives."""
    before = len(sink.received)
    async with smtp_listener(ctx) as port:
        await send_async(port, raw, mail_from=sender, rcpt=(ACK_FROM,))
    await processor.drain()
    await acker.outbox.flush()
    assert len(sink.received) == before + 1
    (url,) = URL_RE.findall(sink.received[-1].message.get_content())
    return url


async def test_the_acknowledgement_offers_a_private_link_bound_to_the_brief(offering, sink):
    ctx, processor, acker = offering
    brief = await add_brief(ctx, "Mobile clinics for nomadic herders")
    other = await add_brief(ctx, "Solar water kiosks")
    first = await _acknowledged(ctx, processor, acker, sink,
                                make_email(subject=f"Film {brief.ref}", sender="a@example.org"),
                                "a@example.org")
    again = await _acknowledged(ctx, processor, acker, sink,
                                make_email(subject=f"More for {brief.ref}", sender="b@example.org"),
                                "b@example.org")
    elsewhere = await _acknowledged(ctx, processor, acker, sink,
                                    make_email(subject=f"Ours: {other.ref}",
                                               sender="c@example.org"), "c@example.org")

    signer = signer_for(ctx)
    token = first.rpartition("/u/")[2]
    assert first.startswith("https://intake.example.org/u/")
    assert (await brief_of_token(ctx, signer, token))[1] == brief.id
    assert again == first  # offered again, not a new link per reply
    assert (await brief_of_token(ctx, signer, elsewhere.rpartition("/u/")[2]))[1] == other.id
    async with ctx.db.reader()() as session:
        links = list(await session.scalars(select(UploadLink)))
    assert sorted(link.brief_id for link in links) == sorted([brief.id, other.id])
    assert {link.created_by for link in links} == {OFFERED_BY}


async def test_a_revoked_link_is_not_offered_again(offering, sink):
    ctx, processor, acker = offering
    brief = await add_brief(ctx, "Community health worker radios")
    first = await _acknowledged(ctx, processor, acker, sink,
                                make_email(subject=f"Clip {brief.ref}", sender="a@example.org"),
                                "a@example.org")
    assert await revoke(ctx, brief.id, "coordinator") == 1
    second = await _acknowledged(ctx, processor, acker, sink,
                                 make_email(subject=f"Clip {brief.ref}", sender="b@example.org"),
                                 "b@example.org")
    signer = signer_for(ctx)
    assert await brief_of_token(ctx, signer, first.rpartition("/u/")[2]) is None
    assert (await brief_of_token(ctx, signer, second.rpartition("/u/")[2]))[1] == brief.id


async def test_an_unmatched_item_is_offered_the_general_page(offering, sink):
    ctx, processor, acker = offering
    await add_brief(ctx, "Mobile clinics for nomadic herders")
    url = await _acknowledged(ctx, processor, acker, sink,
                              make_email(subject="hello", body="our film", sender="z@example.net"),
                              "z@example.net")
    assert url == "https://intake.example.org/upload"  # no brief: the sender types the code
    async with ctx.db.reader()() as session:
        assert list(await session.scalars(select(UploadLink))) == []
