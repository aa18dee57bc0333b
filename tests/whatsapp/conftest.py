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
from tests.whatsapp.fake_graph import DISPLAY_NUMBER, FakeGraph


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
                  "whatsapp_phone_number_id": graph.phone_number_id, "smtp_enabled": False,
                  "whatsapp_number": DISPLAY_NUMBER}
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


@asynccontextmanager
async def serving(settings, roles=("worker", "web", "whatsapp")):
    """`intake serve` with these roles in this loop; yields (ctx, post) once the web app
    answers, post(payload) sending a signed webhook POST and returning its status."""
    import asyncio

    import aiohttp

    from intake.serve import serve
    from tests.helpers import wait_for

    ctx = build_context(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(ctx, list(roles), stop))
    base = f"http://127.0.0.1:{settings.web_port}"
    async with aiohttp.ClientSession() as http:

        async def up() -> bool:
            if task.done():
                task.result()  # serve() failed: show why
            try:
                async with http.get(f"{base}/healthz") as answer:
                    return answer.status < 500
            except aiohttp.ClientError:
                return False

        async def post(data: dict | bytes) -> int:
            body, headers = wa.signed(data)
            async with http.post(f"{base}/whatsapp/webhook", data=body,
                                 headers=headers) as answer:
                return answer.status

        try:
            if "web" in roles:
                await wait_for(up, timeout=30)
            yield ctx, post
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
