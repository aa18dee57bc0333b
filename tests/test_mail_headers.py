"""Headers as mail programs write them, over real SMTP: folded encoded subjects find their
brief by title, and a repeated header is read, not a processing failure."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.pipeline.worker import Processor
from intake.review.survey import import_briefs
from intake.review.views import items_view
from store.models import Brief
from tests.helpers import send_async, smtp_listener

MAIL = Path(__file__).resolve().parent / "data" / "mail"
FRENCH = "Réorganisation des urgences pédiatriques pendant la pandémie"
SURVEY = ("Response ID,Email address,Title of the practice\n"
          f"2001,claire.martin@example.fr,{FRENCH}\n"
          "2002,ana.lima@example.org,Digital register of home births\n"
          "2003,li.wei@example.org,Réorganisation des urgences pédiatriques\n")


@pytest.fixture
async def processor(ctx):
    proc = Processor(ctx)
    yield proc
    proc.close()


@pytest.fixture
async def briefs(ctx, tmp_path):
    path = tmp_path / "survey.csv"
    path.write_text(SURVEY, encoding="utf-8")
    await import_briefs(ctx, path)
    async with ctx.db.reader()() as session:
        return {b.response_id: b for b in await session.scalars(select(Brief))}


async def _deliver_and_process(ctx, processor, raw: bytes) -> dict:
    async with smtp_listener(ctx) as port:
        assert await send_async(port, raw) == {}
    await processor.drain()
    [item] = await items_view(ctx)
    return item


def _as_python_writes_it(subject: str) -> bytes:
    message = EmailMessage(policy=email.policy.default)
    message["From"] = "someone@example.net"  # on no brief: only the title can place it
    message["To"] = "videos@intake.example"
    message["Subject"] = subject
    message.set_content("Voici notre vidéo.")
    return message.as_bytes()  # smtplib turns its bare LF line ends into CRLF


async def test_the_french_title_folded_by_the_mail_program_is_matched_by_title(
        ctx, processor, briefs):
    raw = _as_python_writes_it(FRENCH)
    assert b"p=C3=A9diatriques?=\n pendant" in raw  # the fold that used to eat the space
    item = await _deliver_and_process(ctx, processor, raw)
    assert (item["status"], item["rule"], item["brief_ref"]) == (
        "matched", "title", briefs["2001"].ref)
    assert item["subject"] == FRENCH


async def test_a_message_with_two_subject_headers_is_processed_not_failed(
        ctx, processor, briefs):
    item = await _deliver_and_process(
        ctx, processor, (MAIL / "repeated_subject_header.eml").read_bytes())
    assert item["status"] != "failed", item["error"]
    assert item["subject"] == "Digital register of home births"
    assert (item["status"], item["brief_ref"]) == ("matched", briefs["2002"].ref)
