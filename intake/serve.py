"""`intake serve`: SMTP, web app, worker (and chat/IMAP when configured) on one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from aiohttp import web

from channels.smtp import SmtpOptions, start_smtp
from intake.context import Context
from intake.mail.imap import start_imap_role
from intake.pipeline.accept import accept

log = logging.getLogger(__name__)

ROLES = ("smtp", "web", "worker", "imap", "telegram", "whatsapp")

# A role starter gets the context, the stop event and the exit stack to register its cleanup.
Starter = Callable[[Context, asyncio.Event, AsyncExitStack], Awaitable[None]]


def smtp_options(ctx: Context) -> SmtpOptions:
    settings = ctx.settings
    tls = None
    if settings.smtp_tls_cert and settings.smtp_tls_key:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(settings.smtp_tls_cert, settings.smtp_tls_key)
    return SmtpOptions(
        hostname=settings.smtp_hostname, recipients=settings.smtp_recipients,
        max_bytes=settings.smtp_max_bytes, max_sessions=settings.smtp_max_sessions,
        timeout=settings.smtp_timeout, lmtp=settings.smtp_lmtp, tls_context=tls,
        spool_dir=settings.spool_dir / "smtp",
        oversize_text=_oversize_text(settings),
    )


def _oversize_text(settings) -> str:  # noqa: ANN001 - Settings
    """Issue 14: mail too big for SMTP is pointed at the upload page (when it is public)."""
    if not (settings.web_enabled and settings.web_base_url.isascii() and settings.web_base_url):
        return ""
    return (f"Message too big; please upload the file at "
            f"{settings.web_base_url.rstrip('/')}/upload")


async def start_smtp_role(ctx: Context, stop: asyncio.Event, stack: AsyncExitStack) -> None:
    settings = ctx.settings
    server = await start_smtp(lambda raw: accept(ctx, raw), smtp_options(ctx),
                              settings.smtp_host, settings.smtp_port)

    async def close() -> None:
        server.close()
        await server.wait_closed()

    stack.push_async_callback(close)


async def start_web_role(ctx: Context, stop: asyncio.Event, stack: AsyncExitStack) -> None:
    from intake.web import build_app

    runner = web.AppRunner(build_app(ctx), handle_signals=False, shutdown_timeout=10)
    await runner.setup()
    site = web.TCPSite(runner, ctx.settings.web_host, ctx.settings.web_port)
    await site.start()
    log.info("web app on http://%s:%s/", ctx.settings.web_host, ctx.settings.web_port)
    stack.push_async_callback(runner.cleanup)


def install_processing_hooks(ctx: Context):  # noqa: ANN201 - an Acknowledger or None
    """What follows each verdict, wherever items are processed (worker role, CLI): video
    details where ffprobe is installed, then the acknowledgement owed where a relay is set
    (recorded in the outbox; the worker role's outbox task sends it)."""
    from intake.media.videos import install_video_details
    from intake.replies.acks import install

    __import__("intake.upload.analyse", fromlist=["_"]).install(ctx)  # issue 14
    install_video_details(ctx)  # first: an acknowledgement may read the media details
    return install(ctx)


async def start_worker_role(ctx: Context, stop: asyncio.Event, stack: AsyncExitStack) -> None:
    from intake.pipeline.worker import Processor
    from intake.replies.acks import start_acknowledgements

    # Hooks before the worker starts; their cleanup runs after the worker has finished.
    await start_acknowledgements(ctx, stack, install_processing_hooks(ctx))
    from intake.links.fetcher import start_link_fetcher

    await start_link_fetcher(ctx, stack)  # issue #13: closed after the worker (stack order)
    processor = Processor(ctx)
    worker_stop = asyncio.Event()
    task = asyncio.create_task(processor.run(worker_stop), name="worker")

    async def finish() -> None:
        worker_stop.set()  # finish the item in hand, claim no more
        await task

    stack.push_async_callback(finish)


async def start_telegram_role(ctx: Context, stop: asyncio.Event, stack: AsyncExitStack) -> None:
    from intake.chat_apps.telegram import start_telegram  # python-telegram-bot loads when used

    await start_telegram(ctx, stop, stack)


async def start_whatsapp_role(ctx: Context, stop: asyncio.Event, stack: AsyncExitStack) -> None:
    from intake.chat_apps.whatsapp import start_whatsapp  # issue 16

    await start_whatsapp(ctx, stop, stack)


STARTERS: dict[str, Starter] = {
    "worker": start_worker_role,
    "web": start_web_role,
    "smtp": start_smtp_role,
    "imap": start_imap_role,
    "telegram": start_telegram_role,
    "whatsapp": start_whatsapp_role,
}


def default_roles(ctx: Context) -> list[str]:
    roles = ["worker"]
    if ctx.settings.web_enabled:
        roles.append("web")
    if ctx.settings.smtp_enabled:
        roles.append("smtp")
    chats = ("imap", "telegram", "whatsapp")
    return roles + [r for r in chats if r in STARTERS and _configured(ctx, r)]


def _configured(ctx: Context, role: str) -> bool:
    checks = {
        "imap": lambda s: bool(getattr(s, "imap_urls", None)),
        "telegram": lambda s: bool(getattr(s, "telegram_token", None)),
        "whatsapp": lambda s: bool(getattr(s, "whatsapp_token", None)),
    }
    return checks[role](ctx.settings)


def _in_start_order(roles: list[str]) -> list[str]:
    # Whatever order --only named them in: the worker first (so it is closed last, after the
    # channels have stopped accepting), then the web app, then the channels.
    order = {role: n for n, role in enumerate(
        ("worker", "web", "smtp", "imap", "telegram", "whatsapp"))}
    return sorted(dict.fromkeys(roles), key=lambda role: order.get(role, len(order)))


async def serve(ctx: Context, roles: list[str] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run the given roles until SIGTERM/SIGINT (or `stop`), then shut down in order."""
    from store.migrate import upgrade

    await upgrade(ctx.db)
    await ctx.blobs.check()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    roles = _in_start_order(roles or default_roles(ctx))
    # Entered in order worker → web → channels, so they are closed in reverse: stop
    # accepting first, then finish in-flight items, then release the database.
    async with AsyncExitStack() as stack:
        stack.push_async_callback(ctx.close)
        for role in roles:
            if role not in STARTERS:
                raise SystemExit(f"role {role!r} is not available in this build")
            await STARTERS[role](ctx, stop, stack)
        if ctx.settings.metrics_port:  # a worker or poller without the web app's /metrics
            from intake.web.metrics import start_metrics_listener

            await start_metrics_listener(ctx, stack)
        log.info("intake serving: %s", ", ".join(roles))
        await stop.wait()
        log.info("shutting down")
