"""The intake side of Telegram: what a stored update means, its files, its match, its reply."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from channels.contract import TELEGRAM_UPDATE
from channels.telegram import FileTooBig, TelegramChannel, TelegramFailure, TelegramOptions
from intake.chat import flow as chat_flow
from intake.chat.analyse import match_update, read_update, spooled_file
from intake.chat.outbox import Outbox
from intake.config import Settings
from intake.context import Context
from intake.pipeline.accept import accept_many
from intake.pipeline.analyse import Analysis, MatchOptions, SpooledFile
from intake.pipeline.worker import Processor, _apply_verdict
from parsers.telegram import ChatMedia, ChatUpdate, parse_update
from parsers.policy import DEFAULT_POLICY
from store.chats import (
    HANDLED,
    album_first,
    brief_of_message,
    earlier_pending,
    get_chat,
    item_for_message,
    media_by_external_id,
    note_external_id,
)
from store.models import Brief, Chat, Item, Media
from store.queries import add_event, link_media, media_by_key, upsert_media

log = logging.getLogger(__name__)

ORDER_WAIT = 60.0  # seconds an update waits for its chat's earlier ones, then fails (retried)
ORDER_POLL = 0.05
INLINE_PARSE = 64 * 1024  # bytes of update JSON parsed in the event loop; more in a worker
PROBLEMS = ("media_too_large", "media_unavailable")


class OutOfOrder(Exception):
    """An earlier update of the same chat is still unprocessed; this one is retried later."""


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
    intake = ChatIntake(ctx, channel)
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


@dataclass
class Fetched:
    """One file of a message after trying to get it from Telegram."""

    medium: ChatMedia
    name: str  # the name it is linked under
    spooled: SpooledFile | None = None  # downloaded now, waiting for the blob store
    media_id: int | None = None  # stored before (the same file_unique_id)
    problem: str | None = None  # one of PROBLEMS: the file is recorded, not stored
    reason: str = ""


class ChatIntake:
    """Analyses Telegram items for the worker and owes each a reply (through the outbox)."""

    def __init__(self, ctx: Context, channel: TelegramChannel) -> None:
        self.ctx = ctx
        self.channel = channel
        self.outbox = Outbox(ctx, channel)

    def install(self) -> None:
        self.ctx.analysers[TELEGRAM_UPDATE] = self.analyse
        self.ctx.after_process.append(self.outbox.after_process)

    @property
    def username(self) -> str | None:
        return self.channel.identity.username if self.channel.identity else None

    async def analyse(self, processor: Processor, item: Item, raw_path: Path, extra: list[dict],
                      options: MatchOptions) -> Analysis:
        """The worker's analyser for TELEGRAM_UPDATE items (one chat's items in order)."""
        if item.raw_size <= INLINE_PARSE:
            # An update is a few kilobytes of JSON: reading it here costs less than the trip
            # to a worker process. Anything larger (an odd webhook body) goes there.
            update = parse_update(await asyncio.to_thread(raw_path.read_bytes), self.username)
        else:
            update = await processor.in_pool(read_update, str(raw_path), self.username)
        chat = await self._in_order(item)
        analysis = await Job(self, processor, item, update, chat, extra, options).run()
        if update.chat_type == "channel":  # a reply there would be a post to all its readers
            analysis.features["reply"] = None
        if analysis.features.get("reply"):
            self.outbox.owed(item.id, item.chat_id, analysis.features["reply"])
        return analysis

    async def _in_order(self, item: Item) -> Chat | None:
        """Wait until the chat's earlier items are processed (/start before the video it
        binds, /new before its answers, an album's first part before the others); then
        return the chat as they left it."""
        if not item.chat_id:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ORDER_WAIT
        while True:
            async with self.ctx.db.reader()() as session:
                earlier = await earlier_pending(session, item.chat_id, item.id)
                if earlier is None:
                    return await get_chat(session, item.chat_id)
            if loop.time() > deadline:
                raise OutOfOrder(f"item {earlier} of the same chat is not processed yet")
            await asyncio.sleep(ORDER_POLL)


@dataclass
class Job:
    """One update being analysed, with what every step of it needs."""

    intake: ChatIntake
    processor: Processor
    item: Item
    update: ChatUpdate
    chat: Chat | None  # the chat's row as its earlier items left it (None: never seen)
    extra: list[dict]
    options: MatchOptions

    @property
    def ctx(self) -> Context:
        return self.intake.ctx

    def features(self, role: str, **more: object) -> dict:
        u = self.update
        features = u.features().to_json()
        features.update(role=role, kind=u.kind, chat_type=u.chat_type, user_name=u.user_name,
                        media_group_id=u.media_group_id, forward=u.forward,
                        reply_to_message=u.reply_to, telegram_message_id=u.message_id)
        features.update(more)
        return features

    async def run(self) -> Analysis:
        u = self.update
        if u.malformed:
            return self.malformed()
        if u.kind == "callback_query":
            return self.handled("callback", await chat_flow.callback(self))
        if not u.is_message or u.for_other_bot:
            return self.handled("service")
        if u.is_edit:
            return await self.edit()
        if u.command:
            return self.handled("command", await chat_flow.command(self))
        if chat_flow.is_answer(self):
            return self.handled("answer", await chat_flow.answer(self))
        if u.media_group_id:
            async with self.ctx.db.reader()() as session:
                first = await album_first(session, u.chat_id, u.media_group_id)
            if first is not None and first != self.item.id:
                return await self.album_part(first)
        if not u.text and not u.media:
            return self.handled("service", flags=[f"unsupported:{u.other}"])
        return await self.content()

    # -- outcomes ---------------------------------------------------------------------------

    def handled(self, role: str, reply: dict | None = None, flags: list[str] | None = None,
                **more: object) -> Analysis:
        """Not a submission of its own: a command, an answer, a part merged elsewhere."""
        verdict = {"status": HANDLED, "brief_id": None, "rule": None, "confidence": None,
                   "flags": [], "candidates": []}
        return Analysis(self.features(role, reply=reply, **more), [], [], flags or [], verdict)

    def malformed(self) -> Analysis:
        """Kept for a person to look at, never retried: the bytes will not change."""
        features = self.features("malformed", malformed=self.update.malformed)
        verdict = {"status": "unmatched", "brief_id": None, "rule": None, "confidence": None,
                   "flags": [], "candidates": []}
        return Analysis(features, [], [], ["malformed_update"], verdict)

    async def content(self) -> Analysis:
        """A practice, a file, a note: matched to a brief or left for a coordinator."""
        fetched = await self.fetch_media()
        features = self.features("content")
        candidates = self.extra + await self.chat_candidates()
        verdict, links = await self.processor.in_pool(
            match_update, features, candidates, self.options)
        await self.attach(self.item.id, fetched, links)
        features["reply"] = await chat_flow.content_reply(self, verdict, fetched)
        return Analysis(features, [], [], problems(fetched), verdict)

    async def album_part(self, first_id: int) -> Analysis:
        """A later part of an album: its file joins the album's first item."""
        fetched = await self.fetch_media()
        await self.attach(first_id, fetched, [])
        changed = await self.retext(first_id, append=True) if self.update.text else None
        reply = await chat_flow.merged_reply(self, fetched, changed)
        return self.handled("album_part", reply, problems(fetched), merged_into=first_id)

    async def edit(self) -> Analysis:
        """An edited message updates the item of the message it edits."""
        async with self.ctx.db.reader()() as session:
            original = await item_for_message(session, self.update.chat_id,
                                              self.update.message_id)
        if original is None:  # we never had the original: the edit stands for it
            return await self.content()
        target, append = original.id, False
        merged_into = (original.features or {}).get("merged_into")
        if original.status == HANDLED and merged_into:  # a part of an album
            target, append = merged_into, True
        fetched = await self.fetch_media()
        await self.attach(target, fetched, [])
        changed = await self.retext(target, append=append)
        reply = await chat_flow.merged_reply(self, fetched, changed)
        return self.handled("edit", reply, problems(fetched), merged_into=target)

    # -- context ----------------------------------------------------------------------------

    async def chat_candidates(self) -> list[dict]:
        """The database's candidates: the brief the chat is bound to, the message replied to."""
        u, found = self.update, []
        bound = self.chat.brief_id if self.chat is not None else None
        if not bound and not (u.reply_to and u.chat_id):
            return found
        async with self.ctx.db.reader()() as session:
            if bound:
                found.append(await _candidate(session, bound, "chat bound to {ref}"))
            if u.reply_to and u.chat_id:
                brief_id = await brief_of_message(session, u.chat_id, u.reply_to)
                if brief_id is not None:
                    found.append(await _candidate(
                        session, brief_id, "reply to a message filed under {ref}"))
        return found

    async def retext(self, target_id: int, append: bool) -> dict | None:
        """Put this message's text on another item and match that item again; returns the
        verdict when the item's brief changed (None otherwise)."""
        async with self.ctx.db.reader()() as session:
            target = await session.get(Item, target_id)
        if target is None or not target.features:
            return None
        features = dict(target.features)
        text = self.update.text
        features["text"] = f"{features.get('text') or ''}\n{text}".strip() if append else text
        names = [m.file_name for m in self.update.media if m.file_name]
        features["filenames"] = list(dict.fromkeys([*features.get("filenames", []), *names]))
        candidates = self.extra + await self.chat_candidates()
        verdict, links = await self.processor.in_pool(
            match_update, features, candidates, self.options)
        changed = await self._apply(target_id, features, verdict)
        await self.attach(target_id, [], links)
        return changed

    async def _apply(self, target_id: int, features: dict, verdict: dict) -> dict | None:
        async with self.ctx.db.writer()() as session, session.begin():
            target = await session.get(Item, target_id)
            target.features = features
            if target.status not in ("matched", "unmatched") or target.rule == "coordinator":
                return None  # a coordinator's decision stands
            before = {"status": target.status, "brief_id": target.brief_id}
            _apply_verdict(target, verdict, list(target.flags))
            if before == {"status": target.status, "brief_id": target.brief_id}:
                return None
            add_event(session, "intake", "updated_by_chat", target.id, target.brief_id,
                      before=before, rule=target.rule, update_item=self.item.id)
            return verdict

    # -- files ------------------------------------------------------------------------------

    async def fetch_media(self) -> list[Fetched]:
        return [await self._fetch(medium, n) for n, medium in enumerate(self.update.media, 1)]

    async def _fetch(self, medium: ChatMedia, number: int) -> Fetched:
        name = medium.file_name or f"{medium.kind}-{self.update.message_id}-{number}"
        async with self.ctx.db.reader()() as session:
            known = await media_by_external_id(session, medium.file_unique_id)
        if known is not None and (known.sha256 is None or await self.ctx.blobs.exists(
                known.sha256)):
            problem = next((f for f in known.flags or [] if f in PROBLEMS), None)
            return Fetched(medium, name, media_id=known.id, problem=problem)
        limit = self.intake.channel.options.download_limit
        if limit is not None and medium.file_size and medium.file_size > limit:
            return Fetched(medium, name, problem="media_too_large")
        try:
            path = await self.intake.channel.download(medium.file_id, self.ctx.settings.spool_dir,
                                                    limit)
        except FileTooBig:
            return Fetched(medium, name, problem="media_too_large")
        except TelegramFailure as exc:
            if exc.retry_after is not None:
                raise  # the network, not the file: the item fails and is retried
            log.warning("telegram file %s not available: %s", medium.file_unique_id, exc)
            return Fetched(medium, name, problem="media_unavailable", reason=str(exc)[:500])
        spooled = await self.processor.in_pool(
            spooled_file, str(path), medium.file_name, medium.mime, name)
        return Fetched(medium, name, spooled=spooled)

    async def attach(self, target_id: int, fetched: list[Fetched], links: list[str]) -> None:
        """Store downloaded files by sha256 and link every file to the target item; a file
        we could not fetch is still recorded, by its Telegram id, with why."""
        if not fetched and not links:
            return
        files = [f.spooled for f in fetched if f.spooled]
        await self.processor.store_files(files)
        async with self.ctx.db.writer()() as session, session.begin():
            await self.processor.link_files(
                session, target_id, Analysis({}, files, links, [], {}))
            for f in fetched:
                if f.spooled is not None:
                    media = await media_by_key(session, f"sha256:{f.spooled.sha256}")
                    await note_external_id(session, media, f.medium.file_unique_id)
                    continue
                media_id = f.media_id or (await upsert_media(session, self._unfetched(f))).id
                await link_media(session, target_id, media_id, f.name, f.medium.mime)

    def _unfetched(self, f: Fetched) -> Media:
        m = f.medium
        return Media(
            key=f"tg:{m.file_unique_id}", kind=m.declared_kind, mime=m.mime, size=m.file_size,
            external_id=m.file_unique_id, flags=[f.problem],
            details={"telegram_file_id": m.file_id, "telegram_kind": m.kind,
                     "bot_id": self.intake.channel.options.bot_id, "duration": m.duration,
                     "reason": f.reason},
        )


def problems(fetched: list[Fetched]) -> list[str]:
    return sorted({f.problem for f in fetched if f.problem})


async def _candidate(session, brief_id: int, evidence: str) -> dict:  # noqa: ANN001
    brief = await session.get(Brief, brief_id)
    ref = brief.ref if brief else f"brief {brief_id}"
    return {"brief_id": brief_id, "confidence": DEFAULT_POLICY.chat_context, "rule": "chat_context",
            "evidence": evidence.format(ref=ref)}
