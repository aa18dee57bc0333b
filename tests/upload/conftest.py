"""Fixtures of the upload tests: the real web app on a loopback port, briefs, a link."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from intake.upload.analyse import install
from intake.upload.links import new_link, signer_for
from intake.web import build_app
from parsers.refcode import new_code
from store.models import Brief


@pytest.fixture
async def server(ctx):
    """build_app on 127.0.0.1:<free port>; tuspy (blocking) talks to it from a thread."""
    install(ctx)  # the worker's analyser for upload items, as serve installs it
    test_server = TestServer(build_app(ctx), host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


def url(server: TestServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


async def add_brief(ctx, email: str = "field@example.org") -> Brief:  # noqa: ANN001
    async with ctx.db.writer()() as session, session.begin():
        brief = Brief(ref=new_code(), title="Water pumps in the valley", email=email)
        session.add(brief)
    return brief


@pytest.fixture
async def brief(ctx):
    return await add_brief(ctx)


@pytest.fixture
async def token(ctx, brief):
    return await new_link(ctx, signer_for(ctx), brief.id, "test")
