"""Send owed acknowledgements through the relay: one sender per row, retried while it is young."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import formatdate

from intake.context import Context
from intake.links.queue import ack_hold
from intake.pipeline.waiting import wait_any
from intake.replies.mailer import Relay, SendFailure, send
from intake.replies.texts import (
    AckContent,
    choose_language,
    describe_link,
    guess_language,
    human_size,
    render,
)
from intake.review.actions import notice_due_in, still_filed
from intake.upload.links import offer_url
from parsers.replies import own_words
from store import acks
from store.models import Brief, Item, Outbound, utcnow
from store.queries import media_of_items

log = logging.getLogger(__name__)

IDLE_SECONDS = 60.0  # look for owed rows this often even when nothing wakes us
STALE_CLAIM = timedelta(minutes=15)  # a claim older than this belongs to a dead sender
MAX_REFERENCES = 10  # ids carried over from the submitter's References header


def _retry_after(attempts: int) -> float:
    """30 s, 1 min, 2 min … at most an hour; rows left from yesterday expire."""
    return min(3600.0, 30.0 * 2 ** max(0, attempts - 1))


def _header_id(ident: str | None) -> str | None:
    """A message id fit for a header: printable ASCII, no brackets, spaces or line breaks."""
    if not ident or len(ident) > 250:
        return None
    if not ident.isascii() or any(c in ident for c in "<> \t\r\n") or not ident.isprintable():
        return None
    return ident


class AckOutbox:
    """Owed acknowledgements (Outbound rows "pending") go out here, each exactly once."""

    def __init__(self, ctx: Context, relay: Relay) -> None:
        self.ctx = ctx
        self.relay = relay
        self.wake = asyncio.Event()
        self._later: dict[int, tuple[float, int]] = {}  # row id → (loop time due, attempts)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.wake.clear()
            try:
                pause = await self.flush()
            except Exception:  # the database is away: try again later, never die
                log.exception("acknowledgement outbox failed; trying again")
                pause = IDLE_SECONDS
            await wait_any(stop, self.wake, pause)

    async def flush(self) -> float:
        """Send every owed row that is due; returns seconds until the next retry is due."""
        await self._housekeeping()
        async with self.ctx.db.reader()() as session:
            rows = await acks.pending(session, limit=200)
        loop = asyncio.get_running_loop()
        pause = IDLE_SECONDS
        for row in rows:
            due, _ = self._later.get(row.id, (0.0, 0))
            if row.reason == acks.FILED:
                due = max(due, loop.time() + notice_due_in(row.at))
            elif hold := await ack_hold(self.ctx, row.item_id, row.at):  # links fetched first
                due = max(due, loop.time() + hold)
            if due > loop.time():
                pause = min(pause, due - loop.time())
                continue
            await self._send_one(row)
        return max(0.05, pause)

    async def _housekeeping(self) -> None:
        yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
        async with self.ctx.db.writer()() as session, session.begin():
            await acks.release_stale(session, utcnow() - STALE_CLAIM)
            expired = await acks.expire(session, yesterday)
        if expired:
            log.warning("%d acknowledgement(s) expired unsent", expired)

    async def _send_one(self, row: Outbound) -> None:
        async with self.ctx.db.writer()() as session, session.begin():
            if not await acks.claim(session, row.id):
                return  # another sender has it
        try:
            message = await self.compose(row)
            if message is None:  # a coordinator's filing undone or changed since: say nothing
                await self._finish(row.id, "suppressed")
                return
            await send(self.relay, message, self.ctx.settings.ack_from.strip(), row.recipient)
        except SendFailure as exc:
            await self._failed(row, exc)
            return
        except Exception as exc:  # a broken row must not stop the others
            log.exception("acknowledgement %s could not be built", row.id)
            await self._finish(row.id, "failed", f"{type(exc).__name__}: {exc}"[:500])
            return
        self._later.pop(row.id, None)
        await self._finish(row.id, "sent")

    async def _failed(self, row: Outbound, exc: SendFailure) -> None:
        if exc.permanent:
            log.warning("acknowledgement %s refused for good: %s", row.id, exc)
            self._later.pop(row.id, None)
            await self._finish(row.id, "failed", str(exc))
            return
        attempts = self._later.get(row.id, (0.0, 0))[1] + 1
        delay = _retry_after(attempts)
        log.warning("acknowledgement %s not sent (%s); retrying in %.0f s", row.id, exc, delay)
        self._later[row.id] = (asyncio.get_running_loop().time() + delay, attempts)
        await self._finish(row.id, "pending")

    async def _finish(self, row_id: int, status: str, reason: str | None = None) -> None:
        async with self.ctx.db.writer()() as session, session.begin():
            await acks.finish(session, row_id, status, reason)

    # -- the message ------------------------------------------------------------------------

    async def compose(self, row: Outbound) -> EmailMessage | None:
        """The acknowledgement for an owed row, from the item and brief as they are now;
        None for a coordinator's filing the item has moved from since."""
        async with self.ctx.db.reader()() as session:
            item = await session.get(Item, row.item_id)
            if row.reason == acks.FILED and not await still_filed(session, item, row.brief_id):
                return None
            brief = await session.get(Brief, row.brief_id) if row.brief_id else None
            media = (await media_of_items(session, [item.id]))[item.id]
            kind, _, moved_id = (row.reason or "unmatched").partition(":")
            moved = await session.get(Item, int(moved_id)) if moved_id else None
        language = _language(item, brief)
        content = AckContent(
            kind=kind, language=language, prefix=self.ctx.settings.ref_prefix,
            subject=item.subject or "", ref=brief.ref if brief else "",
            title=brief.title if brief else "", moved=(moved.subject or "") if moved else "",
            files=[_describe(filename, m, language) for filename, _declared, m in media],
            upload=await offer_url(self.ctx, brief.id if brief else None,
                                   brief.ref if brief else "") or "",
        )
        subject, body = render(content)
        return self._message(row, item, subject, body, content.language)

    def _message(self, row: Outbound, item: Item, subject: str, body: str,
                 language: str) -> EmailMessage:
        policy = SMTP if row.recipient.isascii() else SMTPUTF8
        message = EmailMessage(policy=policy)
        message["From"] = self.ctx.settings.ack_from.strip()
        message["To"] = row.recipient
        message["Subject"] = subject  # render() made it one line (no CR/LF from user text)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{row.message_id}>"
        original = _header_id(item.message_id)
        if original:
            earlier = [_header_id(r) for r in (item.features or {}).get("references") or []]
            chain = [r for r in earlier if r and r != original][-MAX_REFERENCES:] + [original]
            message["In-Reply-To"] = f"<{original}>"
            message["References"] = " ".join(f"<{r}>" for r in chain)
        message["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5
        message["X-Auto-Response-Suppress"] = "All"  # keeps Exchange's responders quiet
        message.set_content(body)
        message["Content-Language"] = language  # after set_content, which clears Content-*
        return message


def _language(item: Item, brief: Brief | None) -> str:
    features = item.features or {}
    headers = features.get("headers") or {}
    text = f"{item.subject or ''}\n{own_words(features.get('text') or '')}"
    return choose_language(brief.language if brief else None, item.language,
                           headers.get("content-language"), guess_language(text))


def _describe(filename: str, media, language: str) -> str:  # noqa: ANN001 - a Media
    if media.kind == "link":
        return describe_link(media.url or "", (media.details or {}).get("fetch"), language)
    size = human_size(media.size)
    return f"{filename or media.kind}" + (f" ({size})" if size else "")
