"""The chat core's analyser: what a stored chat update means, its files, its match, its reply.

Written against channels/chat.py's ChatTransport; each chat app is wired in intake/chat_apps/."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from channels.chat import BROADCAST, ChatFailure, ChatFile, ChatTransport, FileTooBig, UpdateParser
from intake.chat import flow as chat_flow
from intake.chat.analyse import match_update, read_update, spooled_file
from intake.chat.outbox import Outbox
from intake.chat.turn import PROBLEMS, Fetched, Turn, features_of, problems
from intake.context import Context
from intake.pipeline.analyse import Analysis, MatchOptions
from intake.pipeline.worker import Processor, apply_verdict
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


class OutOfOrder(Exception):
    """An earlier update of the same chat is still unprocessed; this one is retried later."""


class ChatIntake:
    """Analyses one chat app's items for the worker and owes each a reply (the outbox)."""

    def __init__(self, ctx: Context, transport: ChatTransport, parse: UpdateParser) -> None:
        self.ctx = ctx
        self.transport = transport
        self.parse = parse
        self.outbox = Outbox(ctx, transport)

    def install(self) -> None:
        """Become the worker's analyser for the app's content type, and hook the outbox."""
        self.ctx.analysers[self.transport.content_type] = self.analyse
        self.ctx.after_process.append(self.outbox.after_process)

    async def analyse(self, processor: Processor, item: Item, raw_path: Path, extra: list[dict],
                      options: MatchOptions) -> Analysis:
        """The worker's analyser for the app's items (one chat's items in order)."""
        handle = self.transport.handle
        if item.raw_size <= INLINE_PARSE:
            # An update is a few kilobytes of JSON: reading it here costs less than the trip
            # to a worker process. Anything larger (an odd webhook body) goes there.
            update = self.parse(await asyncio.to_thread(raw_path.read_bytes), handle)
        else:
            update = await processor.in_pool(read_update, self.parse, str(raw_path), handle)
        chat = await self._in_order(item)
        job = Job(ctx=self.ctx, transport=self.transport, item=item, update=update, chat=chat,
                  outbox=self.outbox, processor=processor, extra=extra, options=options)
        analysis = await job.run()
        if update.chat_type == BROADCAST:  # a reply there would be a post to all its readers
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
                earlier = await earlier_pending(session, self.transport.name, item.chat_id,
                                                item.id)
                if earlier is None:
                    return await get_chat(session, item.chat_id)
            if loop.time() > deadline:
                raise OutOfOrder(f"item {earlier} of the same chat is not processed yet")
            await asyncio.sleep(ORDER_POLL)


@dataclass
class Job(Turn):
    """One update being analysed, with what every step of it needs."""

    outbox: Outbox
    processor: Processor
    extra: list[dict]
    options: MatchOptions

    def features(self, role: str, **more: object) -> dict:
        u, name = self.update, self.transport.name
        features = features_of(u, name, self.transport.id_prefix).to_json()
        features.update(role=role, kind=u.kind, chat_type=u.chat_type, user_name=u.user_name,
                        media_group_id=u.media_group_id, forward=u.forward,
                        reply_to_message=u.reply_to)
        features[f"{name}_message_id"] = u.message_id  # the app's own id, for people
        features.update(more)
        return features

    async def run(self) -> Analysis:
        u = self.update
        if u.malformed:
            return self.malformed()
        if u.is_choice:
            return self.handled("callback", await chat_flow.callback(self))
        if not u.is_message or u.for_other_bot:
            return self.handled("service")
        if u.is_edit:
            return await self.edit()
        if u.command:
            return self.handled("command", await chat_flow.command(self))
        if chat_flow.is_answer(self):
            return self.handled("answer", await chat_flow.answer(self))
        return await self.message()

    async def message(self) -> Analysis:
        """A new message that is not a command: an album's later part, or content."""
        u = self.update
        if u.media_group_id:
            async with self.ctx.db.reader()() as session:
                first = await album_first(session, self.transport.name,
                                          self.transport.message_kinds, u.chat_id,
                                          u.media_group_id)
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
            original = await item_for_message(session, self.transport.name,
                                              self.transport.message_kinds,
                                              self.update.chat_id, self.update.message_id)
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
                brief_id = await brief_of_message(
                    session, self.transport.name, self.transport.message_kinds,
                    self.message_key(u.reply_to), u.chat_id, u.reply_to)
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
            apply_verdict(target, verdict, list(target.flags))
            if before == {"status": target.status, "brief_id": target.brief_id}:
                return None
            add_event(session, "intake", "updated_by_chat", target.id, target.brief_id,
                      before=before, rule=target.rule, update_item=self.item.id)
            return verdict

    # -- files ------------------------------------------------------------------------------

    async def fetch_media(self) -> list[Fetched]:
        return [await self._fetch(medium, n) for n, medium in enumerate(self.update.media, 1)]

    async def _fetch(self, medium: ChatFile, number: int) -> Fetched:
        """A file stored before (the same unique_id), or downloaded now, or why not."""
        name = medium.file_name or f"{medium.kind}-{self.update.message_id}-{number}"
        known = await self._known(medium, name)
        if known is not None:
            return known
        limit = self.transport.download_limit
        if limit is not None and medium.file_size and medium.file_size > limit:
            return Fetched(medium, name, problem="media_too_large")
        try:
            got = await self.transport.download(medium, self.ctx.settings.spool_dir)
        except FileTooBig as exc:
            return Fetched(medium, name, problem="media_too_large", limit=exc.limit)
        except ChatFailure as exc:
            if exc.retry_after is not None:
                raise  # the network, not the file: the item fails and is retried
            log.warning("%s file %s not available: %s", self.transport.name, medium.unique_id,
                        exc)
            return Fetched(medium, name, problem="media_unavailable", reason=str(exc)[:500])
        spooled = await self.processor.in_pool(
            spooled_file, str(got.path), medium.file_name, medium.mime, name)
        return Fetched(medium, name, spooled=spooled)

    async def _known(self, medium: ChatFile, name: str) -> Fetched | None:
        """The file as stored before, if its bytes are still there (or never were)."""
        async with self.ctx.db.reader()() as session:
            known = await media_by_external_id(session, medium.unique_id)
        if known is None:
            return None
        if known.sha256 is not None and not await self.ctx.blobs.exists(known.sha256):
            return None
        problem = next((f for f in known.flags or [] if f in PROBLEMS), None)
        return Fetched(medium, name, media_id=known.id, problem=problem)

    async def attach(self, target_id: int, fetched: list[Fetched], links: list[str]) -> None:
        """Store downloaded files by sha256 and link every file to the target item; a file
        we could not fetch is still recorded, by the app's id of it, with why."""
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
                    await note_external_id(session, media, f.medium.unique_id)
                    continue
                media_id = f.media_id or (await upsert_media(session, self._unfetched(f))).id
                await link_media(session, target_id, media_id, f.name, f.medium.mime)

    def _unfetched(self, f: Fetched) -> Media:
        m = f.medium
        details = {**self.transport.file_details(m), "duration": m.duration, "reason": f.reason}
        return Media(
            key=f"{self.transport.id_prefix}:{m.unique_id}", kind=m.declared_kind, mime=m.mime,
            size=m.file_size, external_id=m.unique_id, flags=[f.problem], details=details,
        )


async def _candidate(session, brief_id: int, evidence: str) -> dict:  # noqa: ANN001
    brief = await session.get(Brief, brief_id)
    ref = brief.ref if brief else f"brief {brief_id}"
    return {"brief_id": brief_id, "confidence": DEFAULT_POLICY.chat_context, "rule": "chat_context",
            "evidence": evidence.format(ref=ref)}
