"""Fixtures of the link-fetching tests: fake providers behind a loopback CONNECT proxy."""

import asyncio

import pytest

from tests.links.providers import mp4, proxy_env, start_providers

VIDEO_SIZE = 3_000_000


@pytest.fixture
async def providers(tmp_path, monkeypatch):
    found, closers = await start_providers(tmp_path, mp4(VIDEO_SIZE))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
                 "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in proxy_env(found).items():
        monkeypatch.setenv(name, value)
    yield found
    runner, server = closers
    server.close()
    await runner.cleanup()
    await asyncio.sleep(0)
