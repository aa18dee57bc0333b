"""A second chat app plugs into the chat core with a transport and a parser alone.

"Memo" is an app of this test's own (in memory, no server): string message ids, no update
numbers, three buttons at most, a 24-hour reply window — the shape of WhatsApp's Cloud API.
It drives the real core, worker, database and blob store."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from channels.chat import (
    CHOICE,
    EDIT,
    MESSAGE,
    PRIVATE,
    ChatFailure,
    ChatFile,
    ChatReply,
    ChatTransport,
    ChatUpdate,
    Downloaded,
    OutsideWindow,
    RateLimited,
)
from channels.contract import RawItem
from intake.chat import outbox as chat_outbox
from intake.chat.core import ChatIntake
from intake.pipeline.accept import accept
from intake.pipeline.worker import Processor
from parsers.refcode import new_code
from store.models import Brief, Chat, Item, Media, Outbound

CONTENT_TYPE = "application/x-memo+json"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 16


def parse_memo(raw: bytes, handle: str | None) -> ChatUpdate:
    """Memo's update: {"chat", "user", "id", "text", "file"?, "edits"?, "tap"?}."""
    data = json.loads(raw)
    u = ChatUpdate(kind=data.get("kind", "message"), chat_id=data["chat"], chat_type=PRIVATE,
                   user_id=data["user"], message_id=data.get("id"), text=data.get("text", ""))
    u.event = EDIT if "edits" in data else CHOICE if "tap" in data else MESSAGE
    if "edits" in data:
        u.message_id = data["edits"]
    if "tap" in data:
        u.choice_data, u.choice_id = data["tap"], None
    if u.text.startswith("/"):
        word, _, u.args = u.text[1:].partition(" ")
        u.command = word.lower()
    if "file" in data:
        u.media.append(ChatFile("clip", data["file"], f"memo-{data['file']}", len(MP4),
                                "video/mp4", None, 3, "video"))
    return u


class MemoTransport:
    """A ChatTransport keeping what it sends; `refuse` makes the next sends fail so."""

    name, id_prefix, app_name, content_type = "memo", "mm", "Memo", CONTENT_TYPE
    message_kinds = frozenset({"message"})
    max_choices = 3
    handle = "memo_bot"
    download_limit = 10_000
    reply_window = timedelta(hours=24)

    def __init__(self, files: dict[str, bytes]) -> None:
        self.ready = asyncio.Event()
        self.ready.set()
        self.files = files
        self.sent: list[ChatReply] = []
        self.refuse: list[ChatFailure] = []

    async def send(self, reply: ChatReply) -> str:
        if self.refuse:
            raise self.refuse.pop(0)
        self.sent.append(reply)
        return f"memo.{len(self.sent)}"

    async def answer_choice(self, choice_id: str, text: str) -> None:
        return None  # Memo, like WhatsApp, has no acknowledgement of a tap

    async def download(self, file: ChatFile, spool: Path) -> Downloaded:
        spool.mkdir(parents=True, exist_ok=True)
        target = spool / f"memo-{file.file_id}"
        target.write_bytes(self.files[file.file_id])
        return Downloaded(target, target.stat().st_size)

    def deep_link(self, payload: str) -> str | None:
        return f"https://memo.example/{self.handle}?start={payload}"

    def file_details(self, file: ChatFile) -> dict:
        return {"memo_file_id": file.file_id}


@pytest.fixture
async def memo(ctx):
    transport = MemoTransport({"f1": MP4})
    intake = ChatIntake(ctx, transport, parse_memo)
    intake.install()
    processor = Processor(ctx, processes=1)
    yield transport, intake, processor
    processor.close()


async def _receive(ctx, processor, n: int, **update) -> Item:
    """One Memo update through accept and the worker, as a receiving transport would."""
    update.setdefault("id", f"in.{n}")
    kind = "edit" if "edits" in update else update.get("kind", "message")
    source = {"kind": kind, "chat_id": update["chat"], "user_id": update["user"],
              "message_id": update["id"]}
    accepted = await accept(ctx, RawItem("memo", json.dumps(update).encode(), CONTENT_TYPE,
                                         f"u{n}", source))
    await processor.drain()
    async with ctx.db.reader()() as session:
        return await session.get(Item, accepted.item_id)


async def _add_brief(ctx, title: str) -> Brief:
    async with ctx.db.writer()() as session, session.begin():
        brief = Brief(ref=new_code(ctx.settings.ref_prefix), title=title, contacts=[], extra={})
        session.add(brief)
    return brief


async def _outbound(ctx) -> list[Outbound]:
    async with ctx.db.reader()() as session:
        return list(await session.scalars(select(Outbound).order_by(Outbound.id)))


def test_the_memo_transport_is_a_chat_transport():
    assert isinstance(MemoTransport({}), ChatTransport)


async def test_binding_a_file_and_an_edit_go_through_the_core(ctx, memo):
    transport, intake, processor = memo
    brief = await _add_brief(ctx, "Solar pumps for smallholders")
    start = await _receive(ctx, processor, 1, chat="c1", user="u1", text=f"/start {brief.ref}")
    clip = await _receive(ctx, processor, 2, chat="c1", user="u1", text="our pump", file="f1")
    await _receive(ctx, processor, 3, chat="c1", user="u1", edits="in.2", text="our pump v2")
    sent, _ = await intake.outbox.flush()

    assert start.status == "handled" and start.features["role"] == "command"
    assert clip.status == "matched" and clip.brief_id == brief.id
    assert clip.sender == "mm:u1" and clip.rule == "chat_context"
    assert clip.features["memo_message_id"] == "in.2" and clip.features["channel"] == "memo"
    assert sent == 2  # the binding and the filing; the edit changed nothing worth saying
    bound, filed = transport.sent
    assert brief.ref in bound.text and bound.reply_to == "in.1" and bound.chat_id == "c1"
    assert "Filed under" in filed.text and filed.reply_to == "in.2"
    async with ctx.db.reader()() as session:
        (media,) = list(await session.scalars(select(Media)))
        chat = await session.scalar(select(Chat).where(Chat.chat_id == "c1"))
        edited = await session.get(Item, clip.id)
    assert media.external_id == "memo-f1" and await ctx.blobs.get_bytes(media.sha256) == MP4
    assert chat.brief_id == brief.id and chat.state["applied"] == start.id  # no update numbers
    assert edited.features["text"] == "our pump v2"  # found by its string message id
    assert [r.message_id for r in await _outbound(ctx)] == ["mm:c1:memo.1", "mm:c1:memo.2"]


async def test_choices_are_capped_and_a_tap_files_the_item(ctx, memo):
    transport, intake, processor = memo
    briefs = [await _add_brief(ctx, f"Practice {n}") for n in range(4)]
    for n, brief in enumerate(briefs):  # the chat filed something under four briefs lately
        await _receive(ctx, processor, 10 + 2 * n, chat="c2", user="u2", text=f"/brief {brief.ref}")
        await _receive(ctx, processor, 11 + 2 * n, chat="c2", user="u2", text=f"part {n}")
    async with ctx.db.writer()() as session, session.begin():
        await session.execute(update(Chat).where(Chat.chat_id == "c2").values(brief_id=None))
    note = await _receive(ctx, processor, 21, chat="c2", user="u2", text="a note, no code")
    await intake.outbox.flush()
    question = transport.sent[-1]
    assert note.status == "unmatched" and len(question.choices) == 3  # Memo's limit
    tap = await _receive(ctx, processor, 22, chat="c2", user="u2", kind="tap",
                         tap=question.choices[1].data)
    await intake.outbox.flush()

    async with ctx.db.reader()() as session:
        filed = await session.get(Item, note.id)
    assert tap.features["role"] == "callback" and filed.status == "matched"
    assert "Thank you, filed under" in transport.sent[-1].text


async def test_replies_outside_the_window_are_suppressed_and_rate_limits_wait(ctx, memo,
                                                                               monkeypatch):
    transport, intake, processor = memo
    old = await _receive(ctx, processor, 30, chat="c3", user="u3", text="sent long ago")
    async with ctx.db.writer()() as session, session.begin():
        await session.execute(update(Item).where(Item.id == old.id).values(
            received_at=old.received_at - timedelta(days=2)))
    await intake.outbox.flush()
    assert transport.sent == []  # more than 24 hours since c3 last wrote

    transport.refuse = [RateLimited("slow down", 0.0), OutsideWindow("re-engagement only")]
    await _receive(ctx, processor, 31, chat="c4", user="u4", text="first")
    deferred, _ = await intake.outbox.flush()
    refused, _ = await intake.outbox.flush()
    await _receive(ctx, processor, 32, chat="c4", user="u4", text="second")
    fine, _ = await intake.outbox.flush()

    rows = await _outbound(ctx)
    assert [(r.recipient, r.status, r.reason) for r in rows] == [
        ("c3", "suppressed", chat_outbox.OUTSIDE_WINDOW),
        ("c4", "suppressed", chat_outbox.OUTSIDE_WINDOW),
        ("c4", "sent", None)]
    assert (deferred, refused, fine) == (0, 1, 1) and len(transport.sent) == 1
