"""Where the upload page is offered: the SMTP 552 reply to oversize mail."""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from intake.context import build_context
from store.migrate import upgrade
from tests.conftest import make_settings
from tests.helpers import make_email, smtp_listener


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
