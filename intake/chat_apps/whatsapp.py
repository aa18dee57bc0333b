"""WhatsApp wired to the chat core: WhatsAppChannel + parsers.whatsapp, the "whatsapp" role.

Receiving is the web app's webhook (intake/web/whatsapp.py); this role analyses the stored
events in the worker and sends the replies through the Graph API."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from functools import partial

from channels.whatsapp import WhatsAppChannel, WhatsAppOptions
from intake.chat.core import ChatIntake
from intake.config import Settings
from intake.context import Context
from parsers.whatsapp import parse_update


def whatsapp_options(settings: Settings) -> WhatsAppOptions:
    return WhatsAppOptions(
        token=settings.whatsapp_token.get_secret_value(),
        phone_number_id=settings.whatsapp_phone_number_id,
        api_url=settings.whatsapp_api_url,
        template=settings.whatsapp_template,
        template_language=settings.whatsapp_template_language,
    )


def whatsapp_intake(ctx: Context) -> tuple[WhatsAppChannel, ChatIntake]:
    channel = WhatsAppChannel(whatsapp_options(ctx.settings), ctx.settings.whatsapp_number)
    # The parser runs in worker processes too: a partial of a module-level function.
    parse = partial(parse_update, prefix=ctx.settings.ref_prefix)
    return channel, ChatIntake(ctx, channel, parse)


async def start_whatsapp(ctx: Context, stop: asyncio.Event, stack: AsyncExitStack) -> None:
    """The "whatsapp" role: analyse stored webhook events in the worker, send the replies."""
    if not ctx.settings.whatsapp_token.get_secret_value():
        raise SystemExit("the whatsapp role needs INTAKE_WHATSAPP_TOKEN and "
                         "INTAKE_WHATSAPP_PHONE_NUMBER_ID")
    channel, intake = whatsapp_intake(ctx)
    intake.install()
    await channel.start()
    outbox_stop = asyncio.Event()
    outbox = asyncio.create_task(intake.outbox.run(outbox_stop), name="whatsapp-outbox")

    async def close() -> None:
        outbox_stop.set()
        await outbox
        await channel.close()

    stack.push_async_callback(close)
