"""The chat-transport interface: what the chat core (intake/chat/) needs of any chat app.

A chat app plugs in with three parts, none of which the core names:

- a **transport** in channels/ (e.g. channels/telegram.py) that implements `ChatTransport`:
  it receives the app's traffic, turns each update into a `RawItem` through accept (as every
  channel does, see channels/contract.py), and sends replies, answers taps and downloads
  files on the core's behalf;
- a **parser** in parsers/ (e.g. parsers/telegram.py), an `UpdateParser`: the stored raw
  bytes of one update read into a `ChatUpdate`, the app-neutral shape the core works on;
- a small **wiring** module (e.g. intake/chat_apps/telegram.py) that builds both from the
  settings and hands them to `intake.chat.core.ChatIntake(ctx, transport, parser)`, whose
  `install()` registers the analyser and whose `outbox.run(stop)` sends the replies.
  The app's channel name also goes in `store.chats.CHAT_CHANNELS` (review actions tell chat
  items apart by it) and its content type in `intake.pipeline.worker.ROLE_ANALYSED`.

The RawItem's `source` (its envelope, read before any parsing) must carry, where the app has
them: "kind" (the app's word for the update; the core finds a message's item by the kinds in
`ChatTransport.message_kinds`), "chat_id", "user_id", "language", "message_id" and
"media_group_id" (an album). `RawItem.channel` is `ChatTransport.name`.

Errors: every call a transport makes to its app raises `ChatFailure` (or a subclass) and
nothing else. `retry_after` set means "the app or the network is busy: try again after that
many seconds" (the core keeps the work and retries); `retry_after` None means "this will not
work however often you try" (the core records why and moves on).

Nothing here imports intake/, store/ or parsers/: adapters import this module, not the core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

# What an update is to the core (ChatUpdate.event).
MESSAGE = "message"  # a new message: text, a file with its caption, a command
EDIT = "edit"  # a person edited a message sent earlier (it carries the new text)
CHOICE = "choice"  # a person tapped one of the buttons of a reply (ChatReply.choices)
OTHER = "other"  # anything else (membership changes, reactions, read receipts): kept, not read

# What a file probably is before its bytes are sniffed (ChatFile.declared_kind).
DECLARED_KINDS = ("video", "image", "audio", "document", "other")

# Private chats are answered in full; a "channel" (a broadcast) is never replied to.
PRIVATE = "private"
BROADCAST = "channel"


@dataclass
class ChatFile:
    """One file a message carries, as the app describes it (nothing downloaded yet)."""

    kind: str  # the app's own word for it ("video", "voice", "photo", "sticker"…); names files
    file_id: str  # what ChatTransport.download takes (may be valid for this bot only)
    unique_id: str  # the same file across re-sends (Telegram: file_unique_id); else file_id
    file_size: int | None = None  # as declared by the app, if it says
    mime: str | None = None  # declared by the sender's app, never trusted
    file_name: str | None = None
    duration: int | None = None  # seconds, for video and audio
    declared_kind: str = "other"  # one of DECLARED_KINDS, used only when we cannot download


@dataclass
class ChatUpdate:
    """One update as the core sees it; `malformed` says why part of it could not be read.

    A parser never raises: an update it cannot read comes back with `malformed` set and is
    kept for a person to look at."""

    update_id: int | None = None  # grows with each update (Telegram's update_id); None: the
    #                               core orders a chat's updates by their stored item's id
    kind: str = "unknown"  # the app's own word for the update, kept in the item's features
    event: str = OTHER  # MESSAGE | EDIT | CHOICE | OTHER
    chat_id: str | None = None  # the conversation (one person, or a group); chats are stored
    #                             by this id alone: an app whose ids could collide with
    #                             another app's must make them distinct (e.g. a prefix)
    chat_type: str | None = None  # PRIVATE | BROADCAST | anything else is a group
    user_id: str | None = None  # who sent it
    user_name: str | None = None  # for coordinators ("Amina K (@amina)")
    language: str | None = None  # the sender's interface language if known, e.g. "fr"
    message_id: int | str | None = None  # the app's id of the message within the chat
    text: str = ""  # the text, or the caption of a file
    media: list[ChatFile] = field(default_factory=list)
    media_group_id: str | None = None  # set on every part of an album
    command: str | None = None  # "start", "brief", "new"… (lower case, no slash)
    args: str = ""  # the rest of the command line ("/start REF": a deep link's payload)
    reply_to: int | str | None = None  # the message this one answers
    forward: str | None = None  # who a forwarded message came from, for coordinators
    choice_id: str | None = None  # CHOICE: the tap's own id, to acknowledge it (if the app has)
    choice_data: str | None = None  # CHOICE: the `data` of the Choice tapped
    other: str | None = None  # a field we keep but do not read (sticker, location…)
    for_other_bot: bool = False  # a command addressed to another bot in a group: not ours
    malformed: str | None = None

    @property
    def is_message(self) -> bool:
        """A message or an edit of one (what can carry text and files)."""
        return self.event in (MESSAGE, EDIT)

    @property
    def is_edit(self) -> bool:
        return self.event == EDIT

    @property
    def is_choice(self) -> bool:
        return self.event == CHOICE


UpdateParser = Callable[[bytes, str | None], ChatUpdate]
"""parse(raw, handle): one stored update's bytes (and the bot's own handle, to tell its
commands from another bot's) read into a ChatUpdate. A module-level function or a
functools.partial of one: large updates are parsed in a worker process."""


@dataclass(frozen=True)
class Choice:
    """One button under a reply; tapping it comes back as a CHOICE update with `data`."""

    label: str  # what the button says (an app may shorten it: WhatsApp allows 20 characters)
    data: str  # what the tap sends back (at most 64 characters; the core's own format)


@dataclass(frozen=True)
class ChatReply:
    """One reply to send. The transport splits text at the app's length limit and shows at
    most `ChatTransport.max_choices` choices (the core never offers more)."""

    chat_id: str
    text: str
    reply_to: int | str | None = None  # quote this message, if it still exists
    choices: Sequence[Choice] = ()  # buttons under the (last part of the) text


@dataclass(frozen=True)
class Downloaded:
    """A file fetched into the spool folder; the core hashes, sniffs and stores it."""

    path: Path  # the core moves or deletes it
    size: int


class ChatFailure(Exception):
    """A call to the chat app failed. `retry_after` set: trying again after that many seconds
    may work (a rate limit, the network); None: it will not (blocked, gone, refused)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(ChatFailure):
    """The app asked us to slow down; `retry_after` is how long it asked us to wait."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after)


class FileTooBig(ChatFailure):
    """The app will not hand this file to a bot (Telegram's cloud API: over 20 MB).
    `limit`: the limit that applied when it differs from `download_limit` (WhatsApp's video
    limit is 16 MB, its document limit 100 MB)."""

    def __init__(self, message: str, retry_after: float | None = None,
                 limit: int | None = None) -> None:
        super().__init__(message, retry_after)
        self.limit = limit


class OutsideWindow(ChatFailure):
    """The app refuses free-form messages to this chat now (WhatsApp: more than 24 hours
    since the person last wrote). The core records the reply as suppressed, not failed."""


@runtime_checkable
class ChatTransport(Protocol):
    """What the chat core calls on a chat app. Receiving is the transport's own business
    (polling, a webhook): it ends in accept, like every channel.

    Attributes the core reads:
    - `name`: the item channel ("telegram"), stored on items and replies, and the prefix of
      actors ("telegram:<user id>") and of the keys the core stores app ids under;
    - `id_prefix`: the short prefix of senders ("tg:<user id>"), contacts and message keys
      ("tg:<chat id>:<message id>"); unique among apps;
    - `app_name`: how people know the app ("Telegram"), for texts that must name it;
    - `content_type`: the RawItem content type of its updates;
    - `message_kinds`: the `source["kind"]` values that are a new message (not an edit);
    - `ready`: set once the transport can send (the outbox waits for it);
    - `handle`: the bot's own user name once known (None before), for the parser and links;
    - `download_limit`: the largest file `download` can fetch, in bytes (None: no limit);
    - `reply_window`: how long after a person's last message free-form replies may go to
      them (None: always); outside it the core does not send (see `may_send`);
    - `max_choices`: how many Choices a reply may carry (Telegram: 4; WhatsApp: 3 as reply
      buttons, or up to 10 as a list — the transport picks the widget for the count).
    """

    name: str
    id_prefix: str
    app_name: str
    content_type: str
    message_kinds: frozenset[str]
    ready: asyncio.Event
    max_choices: int

    @property
    def handle(self) -> str | None: ...

    @property
    def download_limit(self) -> int | None: ...

    @property
    def reply_window(self) -> timedelta | None: ...

    async def send(self, reply: ChatReply) -> int | str | None:
        """Send one reply; returns the id of the (last) message sent. ChatFailure if not."""
        ...

    async def answer_choice(self, choice_id: str, text: str) -> None:
        """Acknowledge a tap with a short notice (Telegram: answerCallbackQuery). Apps
        without one do nothing. ChatFailure if the app refuses (too late)."""
        ...

    async def download(self, file: ChatFile, spool: Path) -> Downloaded:
        """Fetch one file into the spool folder. FileTooBig when the app will not give it,
        ChatFailure (with retry_after) when it may later, ChatFailure (without) when gone."""
        ...

    def deep_link(self, payload: str) -> str | None:
        """A link that opens a chat with the bot and sends it "/start <payload>" (or the
        app's nearest equivalent); None when the app has none or the bot is not known yet."""
        ...

    def file_details(self, file: ChatFile) -> dict:
        """What to keep about a file we could not fetch, to fetch it by hand later (JSON)."""
        ...


def may_send(window: timedelta | None, last_heard: datetime | None, now: datetime) -> bool:
    """Whether a free-form reply may go now: always without a window, else only within
    `window` of the person's last message (`last_heard` None: never heard from them)."""
    if window is None:
        return True
    return last_heard is not None and now - last_heard <= window


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line end where possible."""
    parts = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return parts + [text] if text or not parts else parts
