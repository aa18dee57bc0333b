"""IMAP glue on intake's side: mailboxes from settings, checkpoints, accept, the serve role."""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import AsyncExitStack

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from channels.contract import TryLater
from channels.imap import (
    Bridge,
    ImapError,
    ImapOptions,
    MailboxPoller,
    MailboxSpec,
    parse_mailbox_url,
    read_secret,
)
from intake.config import ConfigError, Settings
from intake.context import Context
from intake.ops.leader import Leadership, lock_engine
from intake.pipeline.accept import accept, accept_many
from store.queries import get_checkpoint, set_checkpoint

log = logging.getLogger(__name__)

CHANNEL = "imap"
STOP_GRACE = 30.0  # seconds a poller may take to finish the message in hand when stopping


def imap_password(settings: Settings) -> str:
    if settings.imap_password_file:
        return read_secret(settings.imap_password_file)
    return settings.imap_password.get_secret_value()


def mailbox_specs(settings: Settings, urls: list[str] | None = None) -> list[MailboxSpec]:
    """The configured mailboxes (or `urls`), each with its password; ConfigError names a bad one."""
    try:
        password = imap_password(settings)
        specs = [parse_mailbox_url(url, password, settings.imap_tls_verify)
                 for url in (settings.imap_urls if urls is None else urls)]
    except ImapError as exc:
        raise ConfigError(f"INTAKE_IMAP_URLS: {exc}") from None
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ConfigError("INTAKE_IMAP_URLS: the same mailbox is listed twice")
    return specs


KEYWORD = re.compile(r"^\$?[A-Za-z0-9_.-]{1,64}$")  # an IMAP atom, no spaces or specials


def imap_options(settings: Settings) -> ImapOptions:
    if not KEYWORD.match(settings.imap_keyword):
        raise ConfigError(f"INTAKE_IMAP_KEYWORD: {settings.imap_keyword!r} is not a plain IMAP "
                          "keyword (letters, digits, _ . -, optionally a leading $)")
    return ImapOptions(keyword=settings.imap_keyword, move_to=settings.imap_move_to,
                       batch=settings.imap_batch, poll_seconds=settings.imap_poll_seconds,
                       idle_seconds=settings.imap_idle_seconds)


async def load_checkpoint(ctx: Context, name: str) -> dict:
    try:
        async with ctx.db.reader()() as session:
            return await get_checkpoint(session, CHANNEL, name)
    except (SQLAlchemyError, OSError) as exc:
        raise TryLater(f"checkpoint unreadable: {type(exc).__name__}") from exc


async def save_checkpoint(ctx: Context, name: str, value: dict) -> None:
    try:
        async with ctx.db.writer()() as session, session.begin():
            await set_checkpoint(session, CHANNEL, name, value)
    except (SQLAlchemyError, OSError) as exc:
        raise TryLater(f"checkpoint not saved: {type(exc).__name__}") from exc


def make_bridge(ctx: Context, accept_fn=None) -> Bridge:  # noqa: ANN001 - an Accept
    """What a mailbox thread calls back into: accept and the checkpoints, run on this loop."""
    return Bridge(
        asyncio.get_running_loop(),
        accept_fn or (lambda raw: accept(ctx, raw)),
        lambda name: load_checkpoint(ctx, name),
        lambda name, value: save_checkpoint(ctx, name, value),
        # A test that swaps accept for a faulty one gets it for batches too.
        None if accept_fn else (lambda raws: accept_many(ctx, raws)),
    )


async def stop_pollers(pollers: list[MailboxPoller], grace: float = STOP_GRACE) -> None:
    """Ask every poller to stop, wait for their threads without blocking the loop."""
    for poller in pollers:
        poller.stop()
    for poller in pollers:
        await asyncio.to_thread(poller.thread.join, grace)
        if poller.thread.is_alive():
            poller.abort()  # a read stuck on a silent server: cut the socket
            await asyncio.to_thread(poller.thread.join, 5)
        if poller.thread.is_alive():
            log.error("%s: poller did not stop; left behind", poller.spec.name)


def start_pollers(ctx: Context, bridge: Bridge | None = None) -> list[MailboxPoller]:
    options = imap_options(ctx.settings)
    specs = mailbox_specs(ctx.settings)
    # imapclient's DEBUG trace is the whole IMAP dialogue: every message body (personal data).
    logging.getLogger("imapclient").setLevel(logging.INFO)
    bridge = bridge or make_bridge(ctx)
    pollers = [MailboxPoller(spec, bridge, options) for spec in specs]
    for poller in pollers:
        poller.start()
        log.info("IMAP: following %s", poller.spec.name)
    return pollers


async def start_imap_role(ctx: Context, stop: asyncio.Event, stack: AsyncExitStack) -> None:
    """The serve role: one thread per configured mailbox, stopped before the database closes.

    On PostgreSQL several processes may run it: per mailbox, the one holding its advisory
    lock polls and the others stand by, taking over when the leader dies."""
    if not ctx.settings.imap_urls:
        raise SystemExit("role 'imap' needs INTAKE_IMAP_URLS")
    try:
        if not ctx.db.is_sqlite:
            await _start_leaders(ctx, stack)
            return
        pollers = start_pollers(ctx)
    except ConfigError as exc:
        raise SystemExit(f"intake: {exc}") from None
    stack.push_async_callback(stop_pollers, pollers)


async def _start_leaders(ctx: Context, stack: AsyncExitStack) -> None:
    options = imap_options(ctx.settings)
    specs = mailbox_specs(ctx.settings)
    logging.getLogger("imapclient").setLevel(logging.INFO)
    bridge = make_bridge(ctx)
    engine = lock_engine(ctx.settings.effective_database_url)
    done = asyncio.Event()
    tasks = [asyncio.create_task(lead_mailbox(spec, bridge, options, engine, done),
                                 name=f"imap-leader:{spec.name}") for spec in specs]

    async def finish() -> None:
        done.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.dispose()

    stack.push_async_callback(finish)


async def lead_mailbox(spec: MailboxSpec, bridge: Bridge, options: ImapOptions,
                       engine: AsyncEngine, done: asyncio.Event) -> None:
    """Follow one mailbox while holding its lock; stand by while another process does."""
    leadership = Leadership(engine, f"imap:{spec.name}")
    while await leadership.acquire(done):
        poller = MailboxPoller(spec, bridge, options)
        poller.start()
        log.info("IMAP: following %s (this process leads it)", spec.name)
        try:
            lost = await leadership.watch(done)
        finally:
            await stop_pollers([poller])
            await leadership.release()
        if not lost:
            return
