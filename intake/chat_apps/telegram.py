"""Telegram wired to the chat core: TelegramChannel + parsers.telegram, the "telegram" role."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from channels.telegram import TelegramChannel, TelegramOptions
from intake.chat.core import ChatIntake
from intake.config import Settings
from intake.context import Context
from intake.pipeline.accept import accept_many
from parsers.telegram import parse_update


def telegram_options(settings: Settings) -> TelegramOptions:
    return TelegramOptions(
        token=settings.telegram_token.get_secret_value(),
        api_url=settings.telegram_api_url,
        local_mode=settings.telegram_local_mode,
        webhook_url=settings.telegram_webhook_url,
        webhook_secret=settings.telegram_webhook_secret.get_secret_value(),
    )


async def start_telegram(ctx: Context, stop: asyncio.Event, stack: AsyncExitStack) -> None:
    """The "telegram" role: receive updates, analyse them in the worker, send the replies."""
    options = telegram_options(ctx.settings)
    if options.webhook_url and not options.webhook_secret:
        raise SystemExit("INTAKE_TELEGRAM_WEBHOOK_URL needs INTAKE_TELEGRAM_WEBHOOK_SECRET "
                         "(1-256 characters of A-Z, a-z, 0-9, _ and -)")
    channel = TelegramChannel(options, lambda raws: accept_many(ctx, raws))
    intake = ChatIntake(ctx, channel, parse_update)
    intake.install()
    await channel.start()
    outbox_stop = asyncio.Event()
    outbox = asyncio.create_task(intake.outbox.run(outbox_stop), name="telegram-outbox")

    async def close() -> None:
        await channel.stop_receiving()
        outbox_stop.set()
        await outbox
        await channel.close()

    stack.push_async_callback(close)
