"""Fixtures for Telegram tests: the fake Bot API, and `intake serve` running against it."""

from __future__ import annotations

import asyncio
import socket
from contextlib import asynccontextmanager
from random import Random

import pytest
from sqlalchemy import select

from intake.context import build_context
from intake.serve import serve
from parsers.refcode import new_code
from store.migrate import upgrade
from store.models import Brief, Item, Media
from tests.conftest import make_settings
from tests.helpers import wait_for
from tests.telegram.fake_api import FakeBotApi

_codes = Random(4)


@pytest.fixture
async def fake_api():
    fake = await FakeBotApi().start()
    yield fake
    await fake.stop()


@pytest.fixture
def tg_settings(tmp_path, database_url, fake_api):
    """Settings for a bot talking to the fake API; tests override what they need."""

    def build(**overrides):
        values = {"telegram_token": fake_api.token, "telegram_api_url": fake_api.url,
                  "smtp_enabled": False, "web_enabled": False}
        values.update(overrides)
        return make_settings(tmp_path, database_url, **values)

    return build


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def serving(settings, roles=("worker", "telegram"), fake: FakeBotApi | None = None,
                  ctx=None):
    """`intake serve` with these roles in this loop (its real code path), until the block ends.

    With `fake`, waits until the bot polls (or set its webhook) before handing over."""
    ctx = ctx or build_context(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(ctx, list(roles), stop))
    try:
        if fake is not None:
            await wait_for(_started(task, fake), timeout=30)
        yield ctx
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def _started(task: asyncio.Task, fake: FakeBotApi):
    async def check() -> bool:
        if task.done():
            task.result()  # serve() failed: show why
        return "getUpdates" in fake.calls or fake.webhook is not None

    return check


@asynccontextmanager
async def database(settings):
    """A context of our own for setting up and checking the database."""
    ctx = build_context(settings)
    await upgrade(ctx.db)
    try:
        yield ctx
    finally:
        await ctx.close()


async def add_brief(settings, title: str, **fields) -> Brief:
    async with database(settings) as ctx, ctx.db.writer()() as session, session.begin():
        brief = Brief(ref=new_code("HLH", _codes), title=title, contacts=[], extra={},
                      **fields)
        session.add(brief)
    return brief


async def items_of(ctx, **where) -> list[Item]:
    async with ctx.db.reader()() as session:
        query = select(Item).order_by(Item.id)
        for name, value in where.items():
            query = query.where(getattr(Item, name) == value)
        return list(await session.scalars(query))


async def rows(ctx, model) -> list:
    async with ctx.db.reader()() as session:
        return list(await session.scalars(select(model).order_by(model.id)))


async def media_rows(ctx) -> list[Media]:
    return await rows(ctx, Media)


def replies_containing(fake: FakeBotApi, text: str, chat_id=None):
    """An async predicate for wait_for: the messages sent so far that contain `text`."""

    async def check() -> list[dict]:
        sent = fake.sent if chat_id is None else fake.messages_to(chat_id)
        return [m for m in sent if text in m.get("text", "")]

    return check


async def processed(ctx, count: int, **where) -> list[Item]:
    """Wait until `count` items (matching `where`) have left the "received" state."""

    async def check() -> list[Item] | None:
        found = [i for i in await items_of(ctx, **where) if i.status != "received"]
        return found if len(found) >= count else None

    return await wait_for(check, timeout=60)
