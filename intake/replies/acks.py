"""Acknowledge emailed items: decide (RFC 3834), file out-of-office, take corrections, owe one."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from urllib.parse import unquote, urlsplit

from intake.config import ConfigError, Settings
from intake.context import Context
from intake.replies.corrections import Correction, apply_correction
from intake.replies.mailer import parse_relay
from intake.replies.outbox import AckOutbox
from parsers.autoreply import address_of, should_acknowledge
from store.acks import ack_message_id, cap_taken, item_handled, lock_bucket, record
from store.models import Item, utcnow

log = logging.getLogger(__name__)

EMAIL_CHANNELS = ("smtp", "imap")
OUT_OF_OFFICE = "out_of_office"


def envelope_sender(item: Item) -> str | None:
    """Where an answer goes: the SMTP MAIL FROM ("<>" when null), else the Return-Path."""
    source = item.source or {}
    if "mail_from" in source:
        return source["mail_from"]
    return ((item.features or {}).get("headers") or {}).get("return-path")


def our_addresses(settings: Settings) -> list[str]:
    """Our own addresses and @domains: never answered, so forwarding cannot loop."""
    entries = [settings.ack_from, *settings.smtp_recipients]
    for url in settings.imap_urls:
        user = unquote(urlsplit(url).username or "")
        if "@" in user:
            entries.append(user)
    return sorted({e.strip().lower() for e in entries if e and e.strip()})


def _message_id(settings: Settings, item_id: int) -> str:
    return ack_message_id(settings.ack_from, settings.smtp_hostname, item_id)


class Acknowledger:
    """The worker's hook: decides about each processed email and records what is owed; its
    outbox sends (so a slow or absent relay never holds up processing)."""

    def __init__(self, ctx: Context, outbox: AckOutbox) -> None:
        self.ctx = ctx
        self.outbox = outbox
        self.ours = our_addresses(ctx.settings)

    async def after_process(self, ctx: Context, item_id: int) -> None:
        item = await self._settled_email(item_id)
        if item is None:
            return
        features = item.features or {}
        envelope = envelope_sender(item)
        ok, reason = should_acknowledge(
            features.get("headers") or {}, envelope, item.sender, self.ours,
            subject=item.subject or "", text=features.get("text") or "")
        if reason.startswith(OUT_OF_OFFICE):
            await self._flag(item_id, OUT_OF_OFFICE)
        correction = await apply_correction(ctx, item, envelope) if ok else None
        if await self._owe(item, address_of(envelope), ok, reason, correction):
            self.outbox.wake.set()

    async def _settled_email(self, item_id: int) -> Item | None:
        """The item if it is an email with a verdict to answer; failed items are retried (and
        answered then), and nothing else is ours."""
        async with self.ctx.db.reader()() as session:
            item = await session.get(Item, item_id)
        if item is None or item.channel not in EMAIL_CHANNELS:
            return None
        return item if item.status in ("matched", "unmatched") else None

    async def _flag(self, item_id: int, flag: str) -> None:
        async with self.ctx.db.writer()() as session, session.begin():
            item = await session.get(Item, item_id)
            if flag not in (item.flags or []):
                item.flags = sorted({*(item.flags or []), flag})

    async def _owe(self, item: Item, recipient: str, ok: bool, reason: str,
                   correction: Correction | None) -> bool:
        """Record an owed acknowledgement (True) or why there is none; once per item."""
        brief_id = correction.brief_id if correction else (
            item.brief_id if item.status == "matched" else None)
        kind = f"correction:{correction.item_id}" if correction else (
            "matched" if brief_id else "unmatched")
        day = utcnow().date().isoformat()
        row = {"item_id": item.id, "brief_id": brief_id, "recipient": recipient[:320], "day": day}
        async with self.ctx.db.writer()() as session, session.begin():
            if await item_handled(session, item.id):
                return False  # reprocessed, or answered already: one acknowledgement per item
            if not ok:
                record(session, status="suppressed", reason=reason, **row)
                return False
            await lock_bucket(session, recipient, brief_id, day)
            if await cap_taken(session, recipient, brief_id, day):
                record(session, status="suppressed", reason="daily_cap", **row)
                return False
            # `reason` of an owed row says which text to send (see AckOutbox.compose).
            record(session, status="pending", reason=kind,
                   message_id=_message_id(self.ctx.settings, item.id), **row)
            return True


def check_ack_from(settings: Settings) -> None:
    value = settings.ack_from.strip()
    if "@" not in value or address_of(value) != value.lower() or any(
            c in value for c in "\r\n<>,; \t\"'()"):
        raise ConfigError("INTAKE_ACK_FROM: acknowledgements need our plain address, e.g. "
                          f"videos@example.org (got {value!r})")


def install(ctx: Context) -> Acknowledger | None:
    """Hook acknowledgements into processing when a relay is configured (None otherwise)."""
    if not ctx.settings.smtp_relay_url:
        return None
    check_ack_from(ctx.settings)
    acknowledger = Acknowledger(ctx, AckOutbox(ctx, parse_relay(ctx.settings)))
    ctx.after_process.append(acknowledger.after_process)
    return acknowledger


async def start_acknowledgements(ctx: Context, stack: AsyncExitStack,
                                 acknowledger: Acknowledger | None) -> None:
    """For the worker role: the outbox task sending what the hook recorded as owed."""
    if acknowledger is None:
        return
    stop = asyncio.Event()
    task = asyncio.create_task(acknowledger.outbox.run(stop), name="ack-outbox")

    async def close() -> None:
        stop.set()
        await task

    stack.push_async_callback(close)
    log.info("acknowledgements on, through %r", acknowledger.outbox.relay)
