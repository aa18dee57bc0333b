"""Fixtures for WhatsApp tests: the fake Graph API, settings against it, the web app's webhook."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from aiohttp.test_utils import TestClient, TestServer

from intake.context import build_context
from intake.web import build_app
from store.migrate import upgrade
from tests.conftest import make_settings
from tests.whatsapp import payloads as wa
from tests.whatsapp.fake_graph import FakeGraph


@pytest.fixture
async def graph():
    fake = await FakeGraph().start()
    yield fake
    await fake.stop()


@pytest.fixture
def wa_settings(tmp_path, database_url, graph):
    """Settings for a WhatsApp number on the fake Graph API; tests override what they need."""

    def build(**overrides):
        values = {"whatsapp_verify_token": wa.VERIFY_TOKEN, "whatsapp_app_secret": wa.APP_SECRET,
                  "whatsapp_token": graph.token, "whatsapp_api_url": graph.api_url,
                  "whatsapp_phone_number_id": graph.phone_number_id, "smtp_enabled": False}
        values.update(overrides)
        return make_settings(tmp_path, database_url, **values)

    return build


@asynccontextmanager
async def webhook_client(settings):
    """The real web app (its middlewares and the webhook) on 127.0.0.1, and a client for it."""
    ctx = build_context(settings)
    await upgrade(ctx.db)
    client = TestClient(TestServer(build_app(ctx), host="127.0.0.1"))
    await client.start_server()
    try:
        yield ctx, client
    finally:
        await client.close()
        await ctx.close()
