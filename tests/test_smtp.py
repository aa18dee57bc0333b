"""The SMTP channel over real SMTP: 250 only once kept, 451/552/550, dedupe, null sender, cap."""

import asyncio
import hashlib
import os
import smtplib

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from intake.pipeline.accept import INLINE_MAX, raw_bytes
from store.blobs import FileBlobStore
from store.models import Event, Item
from tests.helpers import FailingInserts, drain, make_email, send_async, smtp_listener


async def _items(ctx):
    async with ctx.db.reader()() as session:
        return list(await session.scalars(select(Item).order_by(Item.id)))


async def test_a_delivered_message_is_stored_byte_for_byte(ctx):
    raw = make_email(subject="Vidéo pour HLH-7K2QX-M", attachments=[("a.mp4", b"\0" * 1000,
                                                                      "video/mp4")])
    async with smtp_listener(ctx) as port:
        refused = await send_async(port, raw)
    assert refused == {}
    [item] = await _items(ctx)
    assert item.status == "received" and item.channel == "smtp"
    assert item.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert await raw_bytes(ctx, item.id) == raw
    assert item.source["mail_from"] == "someone@example.org"
    assert item.source["rcpt_tos"] == ["videos@intake.example"]


async def test_the_same_message_twice_is_one_item(ctx):
    raw = make_email(message_id="<same@example.org>")
    async with smtp_listener(ctx) as port:
        await send_async(port, raw)
        await send_async(port, raw)
    items = await _items(ctx)
    assert len(items) == 1 and items[0].dedupe_key == "email:mid:same@example.org"


async def test_same_message_id_other_bytes_keeps_the_bytes_and_says_so(ctx):
    first = make_email(message_id="<hop@example.org>", body="first hop")
    second = make_email(message_id="<hop@example.org>", body="second hop")
    async with smtp_listener(ctx) as port:
        await send_async(port, first)
        await send_async(port, second)
    [item] = await _items(ctx)
    async with ctx.db.reader()() as session:
        event = await session.scalar(select(Event).where(Event.action == "duplicate_delivery"))
    assert event.item_id == item.id
    assert await ctx.blobs.get_bytes(event.detail["raw_sha256"]) == second


async def test_without_message_id_the_bytes_are_the_identity(ctx):
    raw = make_email(message_id=None)
    async with smtp_listener(ctx) as port:
        await send_async(port, raw)
        await send_async(port, raw)
        await send_async(port, make_email(message_id=None, body="another one"))
    items = await _items(ctx)
    assert len(items) == 2
    assert items[0].dedupe_key == "email:sha256:" + hashlib.sha256(raw).hexdigest()


async def test_null_sender_is_accepted(ctx):
    async with smtp_listener(ctx) as port:
        await send_async(port, make_email(), mail_from="")
    [item] = await _items(ctx)
    assert item.source["mail_from"] == "<>"


async def test_unknown_recipient_gets_550_and_nothing_is_stored(tmp_path, sqlite_url):
    from intake.context import build_context
    from store.migrate import upgrade
    from tests.conftest import make_settings

    ctx = build_context(make_settings(tmp_path, sqlite_url,
                                      smtp_recipients="videos@call.org,@practices.example"))
    await upgrade(ctx.db)
    try:
        async with smtp_listener(ctx) as port:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                await send_async(port, make_email(), rcpt=("someone@elsewhere.org",))
            code, _ = refused.value.recipients["someone@elsewhere.org"]
            assert code == 550
            await send_async(port, make_email(), rcpt=("Videos@Call.org",))
            await send_async(port, make_email(), rcpt=("anyone@practices.example",))
        assert len(await _items(ctx)) == 2
    finally:
        await ctx.close()


async def test_over_the_size_limit_gets_552_with_or_without_size(ctx):
    big = make_email(attachments=[("big.mp4", b"x" * 200_000, "video/mp4")])
    async with smtp_listener(ctx, max_bytes=100_000) as port:
        def with_size():
            with smtplib.SMTP("127.0.0.1", port) as client:
                client.ehlo()
                assert client.has_extn("size")
                assert int(client.esmtp_features["size"]) == 100_000
                return client.sendmail("a@example.org", ["v@intake.example"], big)

        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            await asyncio.to_thread(with_size)
        assert refused.value.smtp_code == 552

        def without_size():
            with smtplib.SMTP("127.0.0.1", port) as client:
                client.ehlo()
                client.esmtp_features.pop("size")  # a client that ignores SIZE
                return client.sendmail("a@example.org", ["v@intake.example"], big)

        with pytest.raises(smtplib.SMTPDataError) as refused:
            await asyncio.to_thread(without_size)
        assert refused.value.smtp_code == 552
    assert await _items(ctx) == []


async def test_blob_store_trouble_gets_451_and_the_sender_can_retry(ctx, monkeypatch):
    async def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(ctx.blobs, "put_bytes", broken)
    monkeypatch.setattr(ctx.blobs, "put_file", broken)  # a big message comes as a spool file
    raw = make_email(attachments=[("v.mp4", os.urandom(INLINE_MAX), "video/mp4")])
    async with smtp_listener(ctx) as port:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await send_async(port, raw)
        assert refused.value.smtp_code == 451
        assert await _items(ctx) == []
        assert list((ctx.settings.spool_dir / "smtp").iterdir()) == []  # nothing left behind
        monkeypatch.undo()
        await send_async(port, raw)  # the retry succeeds
    assert len(await _items(ctx)) == 1


async def test_database_trouble_gets_451_and_the_sender_can_retry(ctx):
    failing = await FailingInserts.install(ctx.db, failures=1)
    raw = make_email()  # small: its bytes are committed in the row, so the commit decides
    async with smtp_listener(ctx) as port:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await send_async(port, raw)
        assert refused.value.smtp_code == 451 and await failing.refused(ctx.db) == 1
        assert await _items(ctx) == []
        await send_async(port, raw)  # the retry succeeds
    assert await raw_bytes(ctx, (await _items(ctx))[0].id) == raw


async def test_long_lines_and_8bit_bodies_are_accepted(ctx):
    raw = (b"From: a@example.org\r\nTo: v@intake.example\r\nSubject: caf\xe9 cr\xe8me\r\n"
           b"Message-ID: <8bit@example.org>\r\n\r\n" + b"x" * 3000 + b"\r\n\xe9t\xe9\r\n")
    async with smtp_listener(ctx) as port:
        await send_async(port, raw)
    [item] = await _items(ctx)
    assert await raw_bytes(ctx, item.id) == raw


async def test_blob_files_are_fsynced_before_the_row(ctx, monkeypatch):
    """A big message's bytes are in their final place (not a temp file) when the 250 goes
    out."""
    calls = []
    original = FileBlobStore._install

    def spy(self, source, target):
        original(self, source, target)
        calls.append(target)

    monkeypatch.setattr(FileBlobStore, "_install", spy)
    async with smtp_listener(ctx) as port:
        await send_async(port, make_email(attachments=[("v.mp4", os.urandom(INLINE_MAX),
                                                             "video/mp4")]))
    [item] = await _items(ctx)
    assert calls and calls[0].name == item.raw_sha256


async def test_lmtp_answers_once_per_recipient(ctx):
    async with smtp_listener(ctx, lmtp=True) as port:
        def deliver():
            client = smtplib.LMTP()
            client.connect("127.0.0.1", port)
            try:
                return client.sendmail("a@example.org", ["v@intake.example", "w@intake.example"],
                                       make_email())
            finally:
                client.quit()

        assert await asyncio.to_thread(deliver) == {}
    async with ctx.db.reader()() as session:
        assert await session.scalar(select(func.count(Item.id))) == 1


async def test_starttls_when_a_certificate_is_configured(tmp_path, sqlite_url):
    import shutil
    import ssl
    import subprocess

    from intake.context import build_context
    from store.migrate import upgrade
    from tests.conftest import make_settings

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed: cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-nodes", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    ctx = build_context(make_settings(tmp_path, sqlite_url, smtp_tls_cert=cert,
                                      smtp_tls_key=key))
    await upgrade(ctx.db)
    try:
        async with smtp_listener(ctx) as port:
            def deliver():
                context = ssl.create_default_context(cafile=str(cert))
                context.check_hostname = False
                with smtplib.SMTP("127.0.0.1", port) as client:
                    client.ehlo()
                    assert client.has_extn("starttls")
                    client.starttls(context=context)
                    client.ehlo()
                    client.sendmail("a@example.org", ["v@intake.example"], make_email())
                    return client.sock.version()

            assert (await asyncio.to_thread(deliver)).startswith("TLS")
        assert len(await _items(ctx)) == 1
    finally:
        await ctx.close()


async def test_a_small_message_is_kept_in_its_row_until_the_worker_moves_it(ctx):
    """Small raw items are durable by the row's commit alone; processing puts them in the
    blob store and only then forgets the row's copy."""
    raw = make_email(subject="A short note")
    async with smtp_listener(ctx) as port:
        await send_async(port, raw)
    [item] = await _items(ctx)
    assert not await ctx.blobs.exists(item.raw_sha256)
    assert await raw_bytes(ctx, item.id) == raw
    await drain(ctx)
    async with ctx.db.reader()() as session:
        done = await session.get(Item, item.id, options=[undefer(Item.raw_inline)])
    assert done.status == "unmatched" and done.raw_inline is None
    assert await ctx.blobs.get_bytes(item.raw_sha256) == raw == await raw_bytes(ctx, item.id)
