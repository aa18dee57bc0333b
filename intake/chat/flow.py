"""The bot's conversation in any chat app: /start and /brief binding, the guided /new, /status,
buttons, replies."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from channels.chat import PRIVATE
from intake.chat.texts import language, say, size_text
from intake.chat.turn import Fetched, Turn
from intake.review.actions import ReviewError, new_brief_code, resolve
from intake.upload.links import offer_url
from parsers.refcode import check_symbol, find_codes
from store.chats import chat_briefs, chat_items, chat_row, waiting_items
from store.models import Brief, Chat, Item
from store.queries import add_event, brief_by_ref, briefs_by_ids, media_of_items

log = logging.getLogger(__name__)

# The guided /new submission, one question per step; "-" skips an answer but the title.
STEPS = ("title", "country", "level", "problem", "done", "results", "contact")
ANSWER_LIMIT = 2000
MIN_TITLE = 3
KEEP = 10  # briefs a chat's state remembers having created
OFFERED = 20  # a tap may name any of the chat's last this many briefs (buttons show 4)
BUTTON_TITLE = 40

Mutation = Callable[[object, Chat, dict], Awaitable[dict | None]]


# -- helpers --------------------------------------------------------------------------------


def _lang(job: Turn) -> str:
    return language(job.update.language or (job.chat.language if job.chat else None))


def example_code(prefix: str) -> str:
    """A valid code to show people what one looks like."""
    return f"{prefix}-7K2QX-{check_symbol('7K2QX')}"


def _example(job: Turn) -> str:
    return example_code(job.ctx.settings.ref_prefix)


def reply(job: Turn, key: str | None = None, *, text: str | None = None,
          **extra: object) -> dict:
    """What the outbox will send for this update: text in the sender's language, as a reply."""
    body = text if text is not None else say(_lang(job), key, example=_example(job))
    return {"text": body, "reply_to": job.update.message_id, **extra}


async def _mutate(job: Turn, change: Mutation) -> dict | None:
    """Change the chat's row and state in one short transaction, once per update: an update
    already applied (a retry, a reprocess) changes nothing again and returns None."""
    u = job.update
    async with job.ctx.db.writer()() as session, session.begin():
        chat = await chat_row(session, u.chat_id)
        state = dict(chat.state or {})
        # An app that numbers its updates is ordered by them; another by our item ids.
        order = u.update_id if u.update_id is not None else job.item.id
        if state.get("applied", -1) >= order:
            return None
        result = await change(session, chat, state)
        state["applied"] = order
        chat.state = state  # a new dict: JSON columns do not notice changes in place
        chat.language = u.language or chat.language
        return result


def read_ref(text: str, prefix: str) -> str | None:
    """The first code in the text whose check symbol holds."""
    return next((hit.code for hit in find_codes(text, prefix) if hit.valid), None)


# -- commands -------------------------------------------------------------------------------


async def command(job: Turn) -> dict | None:
    handler = COMMANDS.get(job.update.command or "")
    if handler is None:
        # In a group the command may be another bot's: stay quiet there.
        return reply(job, "unknown_command") if job.update.chat_type == PRIVATE else None
    return await handler(job)


async def _start(job: Turn) -> dict | None:
    if job.update.args:
        return await bind(job)
    return reply(job, "welcome")


async def _brief(job: Turn) -> dict | None:
    if job.update.args:
        return await bind(job)
    return reply(job, "no_code")


async def _help(job: Turn) -> dict:
    return reply(job, "welcome")


async def bind(job: Turn) -> dict | None:
    """/start REF (a deep link) or /brief REF: this chat's items go to that brief from now
    on, and so do its earlier items still waiting for a code."""
    ref = read_ref(job.update.args, job.ctx.settings.ref_prefix)
    async with job.ctx.db.reader()() as session:
        brief = await brief_by_ref(session, ref) if ref else None
    if brief is None:
        text = say(_lang(job), "unknown_code", code=job.update.args[:64], example=_example(job))
        return reply(job, text=text)

    async def change(session, chat: Chat, state: dict) -> dict:  # noqa: ANN001
        chat.brief_id = brief.id
        return {"bound": brief.id}

    if await _mutate(job, change) is None:
        return None
    filed = await _assign_waiting(job, brief)
    text = say(_lang(job), "bound", ref=brief.ref, title=brief.title)
    if filed:
        text += "\n" + say(_lang(job), "bound_filed", count=filed)
    return reply(job, text=text, brief_id=brief.id)


async def _assign_waiting(job: Turn, brief: Brief) -> int:
    """The chat's recent items still waiting for a code (we asked for it) go to `brief`."""
    async with job.ctx.db.reader()() as session:
        waiting = await waiting_items(session, job.transport.name, job.update.chat_id,
                                      job.item.id)
    filed = 0
    for item_id in [i.id for i in waiting if (i.features or {}).get("role") == "content"]:
        try:
            await resolve(job.ctx, item_id, "assign", job.actor, ref=brief.ref)
            filed += 1
        except ReviewError as exc:  # a coordinator holds it: their call
            log.info("chat could not file item %s: %s", item_id, exc)
    return filed


async def _new(job: Turn) -> dict | None:
    if not job.update.user_id:
        return None

    async def change(session, chat: Chat, state: dict) -> dict:  # noqa: ANN001
        state["flow"] = {"user": job.update.user_id, "step": 0, "answers": {}}
        return reply(job, "ask_title")

    return await _mutate(job, change)


async def _cancel(job: Turn) -> dict | None:
    async def change(session, chat: Chat, state: dict) -> dict:  # noqa: ANN001
        if state.pop("flow", None) is None:
            return reply(job, "nothing_to_cancel")
        return reply(job, "cancelled")

    return await _mutate(job, change)


async def _status(job: Turn) -> dict:
    """What this chat sent, newest first, and where each went."""
    async with job.ctx.db.reader()() as session:
        items = [i for i in await chat_items(session, job.transport.name, job.update.chat_id)
                 if i.id < job.item.id]
        media = await media_of_items(session, [i.id for i in items])
        briefs = await briefs_by_ids(session, [i.brief_id for i in items if i.brief_id])
    lang = _lang(job)
    if not items:
        return reply(job, "status_empty")
    lines = [say(lang, "status_head")]
    lines += [_status_line(lang, item, [m for _, _, m in media[item.id]],
                           briefs.get(item.brief_id)) for item in items]
    return reply(job, text="\n".join(lines))


def _status_line(lang: str, item: Item, media: list, brief: Brief | None) -> str:
    """"#12 video → HLH-… “title”", and a word when its file was too large."""
    big = say(lang, "status_too_large") if "media_too_large" in (item.flags or []) else ""
    return f"#{item.id} {_what(lang, media)} → {_where(lang, item, brief)}{big}"


def _where(lang: str, item: Item, brief: Brief | None) -> str:
    if item.status == "matched" and brief is not None:
        return say(lang, "status_matched", ref=brief.ref, title=brief.title)
    if item.status in ("unmatched", "received", "failed", "rejected"):
        return say(lang, f"status_{item.status}")
    return item.status


def _what(lang: str, media: list) -> str:
    kinds = [m.kind for m in media if m.kind != "link"]
    if not kinds:
        return say(lang, "what_text")
    what = say(lang, _what_key(kinds[0]))
    return f"{len(kinds)} × {what}" if len(kinds) > 1 else what


def _what_key(kind: str) -> str:
    return f"what_{kind}" if kind in ("video", "image", "audio", "document") else "what_other"


COMMANDS: dict[str, Callable[[Turn], Awaitable[dict | None]]] = {
    "start": _start, "brief": _brief, "new": _new, "cancel": _cancel, "status": _status,
    "help": _help,
}


# -- the guided /new submission -------------------------------------------------------------


def is_answer(job: Turn) -> bool:
    """Text from the person walking through /new in this chat is an answer, not a practice."""
    u = job.update
    if not u.text or u.media or not u.user_id or job.chat is None:
        return False
    flow = (job.chat.state or {}).get("flow")
    return bool(flow) and flow.get("user") == u.user_id


async def answer(job: Turn) -> dict | None:
    async def change(session, chat: Chat, state: dict) -> dict:  # noqa: ANN001
        flow = dict(state["flow"])
        step, text = flow["step"], job.update.text.strip()
        if STEPS[step] == "title" and len(text) < MIN_TITLE:
            return reply(job, "need_text")
        answers = {**flow["answers"], STEPS[step]: "" if text == "-" else text[:ANSWER_LIMIT]}
        if step + 1 < len(STEPS):
            state["flow"] = {**flow, "step": step + 1, "answers": answers}
            return reply(job, f"ask_{STEPS[step + 1]}")
        brief = await _create_brief(job, session, answers)
        del state["flow"]
        state["created"] = [*state.get("created", []), brief.id][-KEEP:]
        chat.brief_id = brief.id
        return _created(job, brief)

    return await _mutate(job, change)


async def _create_brief(job: Turn, session, answers: dict) -> Brief:  # noqa: ANN001
    """A brief from chat, with its own code; the field worker's chat account is its contact."""
    u, prefix = job.update, job.ctx.settings.ref_prefix
    code = await new_brief_code(session, prefix)
    brief = Brief(
        ref=code, title=answers["title"][:500], country=answers.get("country", "")[:100] or None,
        level=answers.get("level", "")[:100] or None, summary=answers.get("problem") or None,
        name=(u.user_name or "")[:300] or None, language=_lang(job), source="chat",
        contacts=[job.contact],
        extra={**{k: answers.get(k, "") for k in STEPS[3:]},
               f"{job.transport.name}_chat": u.chat_id},
    )
    session.add(brief)
    await session.flush()
    add_event(session, job.actor, "brief_from_chat", job.item.id, brief.id, ref=code)
    return brief


def _created(job: Turn, brief: Brief) -> dict:
    link = job.transport.deep_link(brief.ref) or f"/brief {brief.ref}"
    text = say(_lang(job), "created", ref=brief.ref, title=brief.title, link=link)
    return reply(job, text=text, brief_id=brief.id)


# -- buttons --------------------------------------------------------------------------------

_CHOICE = re.compile(r"^a:(\d{1,12}):(\d{1,12})$")


async def callback(job: Turn) -> dict:
    """A tap on "which practice is this for?": file the item there, if it was offered."""
    u = job.update
    found = _CHOICE.match(u.choice_data or "")
    outcome = "choice_gone"
    brief = None
    if found:
        item_id, brief_id = int(found.group(1)), int(found.group(2))
        outcome, brief = await _choose(job, item_id, brief_id)
    lang = _lang(job)
    if brief is None or outcome != "assigned":
        return {"callback_id": u.choice_id, "callback_text": say(lang, outcome)}
    return {"callback_id": u.choice_id,
            "callback_text": say(lang, "assigned_short", ref=brief.ref),
            "text": say(lang, "assigned", ref=brief.ref, title=brief.title),
            "brief_id": brief.id}


def _was_offered(job: Turn, item: Item | None, brief_id: int, recent: list[int]) -> bool:
    """The buttons name this chat's own briefs (or the item's candidates): a tap naming
    another chat's item, or a brief never offered, is forged."""
    if item is None or item.channel != job.transport.name or item.chat_id != job.update.chat_id:
        return False
    return brief_id in recent + [c.get("brief_id") for c in (item.candidates or [])]


async def _choose(job: Turn, item_id: int, brief_id: int) -> tuple[str, Brief | None]:
    """File the item under the brief tapped: the outcome's text key, and the brief if filed."""
    async with job.ctx.db.reader()() as session:
        item = await session.get(Item, item_id)
        brief = await session.get(Brief, brief_id)
        offered = [b.id for b in await chat_briefs(session, job.transport.name,
                                                   job.update.chat_id, OFFERED)]
    if brief is None or not _was_offered(job, item, brief_id, offered):
        return "choice_gone", None
    if item.status == "matched" and item.brief_id == brief_id:
        return "assigned", brief  # tapped twice, or a retry
    if item.status != "unmatched":
        return "settled", None
    try:
        await resolve(job.ctx, item_id, "assign", job.actor, ref=brief.ref)
    except ReviewError as exc:
        log.info("chat choice for item %s refused: %s", item_id, exc)
        return "settled", None
    return "assigned", brief


# -- replies to submissions -----------------------------------------------------------------


async def content_reply(job: Turn, verdict: dict, fetched: list[Fetched]) -> dict | None:
    """"Filed under REF", or "which practice is this for?" with the chat's recent briefs."""
    lang = _lang(job)
    async with job.ctx.db.reader()() as session:
        if verdict["status"] == "matched":
            brief = await session.get(Brief, verdict["brief_id"])
            recent = []
        else:
            brief = None
            recent = await chat_briefs(session, job.transport.name, job.update.chat_id,
                                       job.transport.max_choices)
    if brief is not None:
        text = say(lang, "matched", ref=brief.ref, title=brief.title)
        return reply(job, text=text + await _notes(job, fetched, brief), brief_id=brief.id)
    buttons = [(_label(b), f"a:{job.item.id}:{b.id}") for b in recent]
    text = say(lang, "unmatched_choose" if buttons else "unmatched", example=_example(job))
    return reply(job, text=text + await _notes(job, fetched, None), buttons=buttons)


async def merged_reply(job: Turn, fetched: list[Fetched], changed: dict | None) -> dict | None:
    """An album part or an edit: say so only if it moved its item, or a file was too big."""
    text = ""
    brief = None
    if changed and changed["status"] == "matched":
        async with job.ctx.db.reader()() as session:
            brief = await session.get(Brief, changed["brief_id"])
        text = say(_lang(job), "edited", ref=brief.ref, title=brief.title)
    text = (text + await _notes(job, fetched, brief)).strip()
    return reply(job, text=text, brief_id=brief.id if brief else None) if text else None


async def _other_ways(job: Turn, lang: str, brief: Brief | None) -> str:
    """"Send it by email to … mentioning REF", and the upload page where there is one."""
    email = intake_address(job.ctx.settings)
    mention = say(lang, "mention", ref=brief.ref) if brief else ""
    how = (say(lang, "too_large_email", email=email, mention=mention) if email
           else say(lang, "too_large_link"))
    url = await offer_url(job.ctx, brief.id if brief else None, brief.ref if brief else "")
    if url:  # the upload page (issue 14) takes what no chat app carries
        how += say(lang, "too_large_upload", url=url)
    return how


def _label(brief: Brief) -> str:
    title = brief.title if len(brief.title) <= BUTTON_TITLE else brief.title[:BUTTON_TITLE] + "…"
    return f"{brief.ref} · {title}"


def intake_address(settings) -> str | None:  # noqa: ANN001
    """Where people can email what the chat cannot take: our own address."""
    if settings.ack_from:
        return settings.ack_from
    return next((r for r in settings.smtp_recipients if not r.startswith("@")), None)


async def _notes(job: Turn, fetched: list[Fetched], brief: Brief | None) -> str:
    """For each file too big for the chat app: how to get it to us all the same (by email,
    or on the upload page: a private link bound to the brief when the chat has one)."""
    too_large = [f for f in fetched if f.problem == "media_too_large"]
    if not too_large:
        return ""
    lang, limit = _lang(job), job.transport.download_limit
    how = await _other_ways(job, lang, brief)
    notes = []
    for f in too_large:
        what = say(lang, _what_key(f.medium.declared_kind))
        key = "too_large" if f.medium.file_size else "too_large_unsized"
        note = say(lang, key, what=what, size=size_text(f.medium.file_size),
                   limit=size_text(f.limit or limit))
        notes.append(f"{note} {how}")
    return "".join(f"\n\n{n}" for n in notes)
