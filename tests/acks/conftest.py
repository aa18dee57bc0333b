"""Fixtures for acknowledgements: a real SMTP sink as the relay, settings, briefs."""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from random import Random

import pytest
from aiosmtpd.smtp import SMTP

from intake.context import build_context
from intake.pipeline.worker import Processor
from intake.replies.acks import install
from parsers.refcode import new_code
from store.migrate import upgrade
from store.models import Brief
from tests.conftest import make_settings

ACK_FROM = "videos@intake.example"
_codes = Random(6)


@dataclass
class Received:
    """One message the relay was handed."""

    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage


@dataclass
class Sink:
    """aiosmtpd handler recording what we send; `refuse` answers the next DATA instead."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        if self.refuse:
            return self.refuse.pop(0)
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 2.0.0 OK"


@pytest.fixture
async def sink():
    """A real SMTP server on 127.0.0.1:<free port> in the test's own loop."""
    handler = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="relay.localhost", enable_SMTPUTF8=True), "127.0.0.1", 0)
    handler.port = server.sockets[0].getsockname()[1]
    yield handler
    server.close()
    await server.wait_closed()


def ack_settings(tmp_path, url, sink: Sink | None, **overrides):
    relay = f"smtp://127.0.0.1:{sink.port}" if sink else ""
    values = {"smtp_relay_url": relay, "ack_from": ACK_FROM,
              "smtp_recipients": [ACK_FROM, "@intake.example"]}
    values.update(overrides)
    return make_settings(tmp_path, url, **values)


@pytest.fixture
async def actx(tmp_path, sqlite_url, sink):
    """A context (SQLite) whose worker acknowledges through the sink."""
    ctx = build_context(ack_settings(tmp_path, sqlite_url, sink))
    await upgrade(ctx.db)
    yield ctx
    await ctx.close()


@pytest.fixture
async def sctx(tmp_path, sqlite_url):
    """A plain context on SQLite (no relay)."""
    ctx = build_context(make_settings(tmp_path, sqlite_url))
    await upgrade(ctx.db)
    yield ctx
    await ctx.close()


@pytest.fixture
def acker(actx):
    return install(actx)


@pytest.fixture
async def processor(actx):
    proc = Processor(actx)
    yield proc
    proc.close()


async def add_brief(ctx, title: str, email_: str | None = None,
                    language: str | None = None) -> Brief:
    async with ctx.db.writer()() as session, session.begin():
        brief = Brief(ref=new_code(ctx.settings.ref_prefix, _codes), title=title, email=email_,
                      language=language, contacts=[], extra={})
        session.add(brief)
    return brief
