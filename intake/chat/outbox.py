"""Replies to one chat app's items: owed once an item is processed, then sent; none lost or
doubled."""

from __future__ import annotations

import asyncio
import logging
from itertools import groupby

from sqlalchemy.ext.asyncio import AsyncSession

from channels.chat import ChatFailure, ChatReply, ChatTransport, Choice, OutsideWindow, may_send
from intake.chat.texts import say
from intake.context import Context
from intake.pipeline.waiting import wait_any
from intake.review.actions import notice_due_in, still_filed
from store.chats import FILED_LATER, expire_replies, last_heard, pending_replies, queue_reply
from store.models import Brief, Item, Outbound, utcnow

log = logging.getLogger(__name__)

IDLE_SECONDS = 30.0  # look for owed replies this often even when nothing wakes us
OUTSIDE_WINDOW = "outside the app's reply window"  # why a reply was suppressed


def reply_of(item: Item, max_attempts: int) -> dict | None:
    """What an item's reply says: chosen when it was analysed, or, once its last attempt
    failed, that a person will look at it (earlier failures are retried quietly)."""
    if item.status == "failed":
        if item.attempts < max_attempts:
            return None
        message_id = (item.source or {}).get("message_id")
        return {"text": say((item.source or {}).get("language"), "failed"),
                "reply_to": message_id}
    return (item.features or {}).get("reply")


async def filed_later_of(session: AsyncSession, item: Item | None,
                         brief_id: int | None) -> dict | None:
    """A coordinator filed the item under a brief: say so, in reply to the item's message,
    unless it has moved since (an undo, another filing) or the chat filed it itself (a tap,
    /brief: answered then): then nothing."""
    if not await still_filed(session, item, brief_id):
        return None
    brief = await session.get(Brief, brief_id)
    source = item.source or {}
    return {"text": say(source.get("language"), FILED_LATER, ref=brief.ref,
                        title=brief.title or "…"),
            "reply_to": source.get("message_id"), "brief_id": brief_id}


class Outbox:
    """The worker's hook records a reply as owed; one task sends owed replies, chat by chat."""

    def __init__(self, ctx: Context, transport: ChatTransport) -> None:
        self.ctx = ctx
        self.transport = transport
        self.wake = asyncio.Event()
        self._later: dict[int, float] = {}  # outbound id → loop time before which to wait
        self._owed: dict[int, tuple[str, dict]] = {}  # item id → (chat, reply), from analysis

    def owed(self, item_id: int, chat_id: str | None, reply: dict) -> None:
        """The analyser's reply for an item, kept until the worker's hook records it."""
        if chat_id:
            self._owed[item_id] = (chat_id, reply)

    async def after_process(self, ctx: Context, item_id: int) -> None:
        """Hook run by the worker after every item's verdict."""
        chat_id, spec = self._owed.pop(item_id, (None, None))
        if spec is None:  # not analysed here (another worker), or failed: read the item
            async with ctx.db.reader()() as session:
                item = await session.get(Item, item_id)
            if item is None or item.channel != self.transport.name:
                return
            chat_id, spec = item.chat_id, reply_of(item, ctx.settings.max_attempts)
        if not spec or not chat_id:
            return
        async with ctx.db.writer()() as session, session.begin():
            queued = await queue_reply(session, self.transport.name, item_id, chat_id,
                                       spec.get("brief_id"))
        if queued:
            self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send owed replies until `stop`; those left over are sent after the next start."""
        await wait_any(stop, self.transport.ready, None)
        if stop.is_set():
            return
        name = self.transport.name
        try:
            async with self.ctx.db.writer()() as session, session.begin():
                await expire_replies(session, name)
        except Exception:  # only tidying: the replies are sent all the same
            log.exception("%s: could not expire stale replies", name)
        while not stop.is_set():
            self.wake.clear()
            try:
                sent, pause = await self.flush()
            except Exception:  # the database is away: try again later, never die
                log.exception("%s: reply outbox failed; trying again", name)
                sent, pause = 0, IDLE_SECONDS
            if not sent:
                await wait_any(stop, self.wake, pause)

    async def flush(self) -> tuple[int, float]:
        """Send what is due; returns how many were sent and how long until the next is due."""
        async with self.ctx.db.reader()() as session:
            rows = await pending_replies(session, self.transport.name)
        now = asyncio.get_running_loop().time()
        later = {r.id: self._later.get(r.id, now) - now for r in rows}
        for row in rows:
            if row.reason == FILED_LATER:
                later[row.id] = max(later[row.id], notice_due_in(row.at))
        due = [r for r in rows if later[r.id] <= 0]
        waits = [later[r.id] for r in rows if later[r.id] > 0]
        # One chat's replies in order; different chats side by side (a group's slower
        # rate limit must not hold up everyone else).
        chats = [list(group) for _, group in groupby(sorted(due, key=_chat_order),
                                                      key=lambda r: r.recipient)]
        counts = await asyncio.gather(*(self._send_chat(rows) for rows in chats))
        return sum(counts), min([IDLE_SECONDS, *waits])

    async def _send_chat(self, rows: list[Outbound]) -> int:
        sent = 0
        for row in rows:
            if not await self._send(row):
                break  # keep this chat's order: the rest wait for the one deferred
            sent += 1
        return sent

    async def _send(self, row: Outbound) -> bool:
        """Send one owed reply; False when it must wait (this chat's later ones wait too)."""
        spec = await self._spec(row)
        if spec and not await self._in_window(row.recipient):
            await self._mark(row.id, "suppressed", None, OUTSIDE_WINDOW)
            return True
        try:
            message_id = await self._deliver(row.recipient, spec or {})
        except OutsideWindow:
            await self._mark(row.id, "suppressed", None, OUTSIDE_WINDOW)
            return True
        except ChatFailure as exc:
            if exc.retry_after is not None:
                self._later[row.id] = asyncio.get_running_loop().time() + exc.retry_after
                return False
            await self._mark(row.id, "failed", None, str(exc)[:1000])
            return True
        key = f"{self.transport.id_prefix}:{row.recipient}:{message_id}" if message_id else None
        await self._mark(row.id, "sent" if spec else "suppressed", key, None)
        return True

    async def _spec(self, row: Outbound) -> dict | None:
        """What the row's reply says now (None: nothing any more)."""
        async with self.ctx.db.reader()() as session:
            item = await session.get(Item, row.item_id)
            if row.reason == FILED_LATER:
                return await filed_later_of(session, item, row.brief_id)
            return reply_of(item, self.ctx.settings.max_attempts) if item else None

    async def _in_window(self, chat_id: str) -> bool:
        """Whether the app lets us write to this chat now (always, for most apps)."""
        window = self.transport.reply_window
        if window is None:
            return True
        async with self.ctx.db.reader()() as session:
            heard = await last_heard(session, self.transport.name, chat_id)
        return may_send(window, heard, utcnow())

    async def _deliver(self, chat_id: str, spec: dict) -> int | str | None:
        if spec.get("callback_id"):
            try:
                await self.transport.answer_choice(spec["callback_id"],
                                                   spec.get("callback_text") or "")
            except ChatFailure as exc:  # too late to answer: the text below still goes
                log.info("%s: callback not answered: %s", self.transport.name, exc)
        if not spec.get("text"):
            return None
        choices = [Choice(label, data) for label, data in spec.get("buttons") or []]
        return await self.transport.send(ChatReply(chat_id, spec["text"], spec.get("reply_to"),
                                                   choices[:self.transport.max_choices]))

    async def _mark(self, row_id: int, status: str, key: str | None, reason: str | None) -> None:
        self._later.pop(row_id, None)
        async with self.ctx.db.writer()() as session, session.begin():
            row = await session.get(Outbound, row_id)
            row.status, row.message_id = status, key
            if reason is not None:  # why it failed; otherwise the row keeps what it was for
                row.reason = reason


def _chat_order(row: Outbound) -> tuple[str, int]:
    return row.recipient, row.id
