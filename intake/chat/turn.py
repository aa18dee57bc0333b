"""One update being handled: what the conversation (flow) and the analysis (core) share."""

from __future__ import annotations

from dataclasses import dataclass

from channels.chat import ChatFile, ChatTransport, ChatUpdate
from intake.context import Context
from intake.pipeline.analyse import SpooledFile
from parsers.features import TEXT_LIMIT, Features
from store.models import Chat, Item

PROBLEMS = ("media_too_large", "media_unavailable")
BINDING = ("start", "brief")  # commands whose argument is a brief's code (a deep link's)


@dataclass
class Turn:
    """An update of one chat app, its stored item, and the chat as earlier updates left it."""

    ctx: Context
    transport: ChatTransport
    item: Item
    update: ChatUpdate
    chat: Chat | None  # the chat's row as its earlier items left it (None: never seen)

    @property
    def actor(self) -> str:
        """Who acts in events and review actions: "<app>:<user id>"."""
        return f"{self.transport.name}:{self.update.user_id}"

    @property
    def contact(self) -> str:
        """The sender as a brief's contact and an item's sender: "<prefix>:<user id>"."""
        return f"{self.transport.id_prefix}:{self.update.user_id}"

    def message_key(self, message_id: int | str) -> str:
        """A chat message's key among messages of every app: "<prefix>:<chat>:<message>"."""
        return f"{self.transport.id_prefix}:{self.update.chat_id}:{message_id}"


@dataclass
class Fetched:
    """One file of a message after trying to get it from the chat app."""

    medium: ChatFile
    name: str  # the name it is linked under
    spooled: SpooledFile | None = None  # downloaded now, waiting for the blob store
    media_id: int | None = None  # stored before (the same unique_id)
    problem: str | None = None  # one of PROBLEMS: the file is recorded, not stored
    reason: str = ""
    limit: int | None = None  # media_too_large: the app's limit for this file, if its own


def problems(fetched: list[Fetched]) -> list[str]:
    return sorted({f.problem for f in fetched if f.problem})


def features_of(update: ChatUpdate, channel: str, id_prefix: str) -> Features:
    """The fields matching reads (channel: the app's name; sender "<prefix>:<user id>")."""
    chat = update.chat_id
    payload = update.args.strip() if update.command in BINDING else ""
    return Features(
        channel=channel,
        sender=f"{id_prefix}:{update.user_id}" if update.user_id else None,
        text=update.text[:TEXT_LIMIT],
        filenames=[m.file_name for m in update.media if m.file_name],
        message_id=f"{id_prefix}:{chat}:{update.message_id}" if chat and update.message_id
        else None,
        references=[f"{id_prefix}:{chat}:{update.reply_to}"] if chat and update.reply_to else [],
        chat_id=chat,
        start_payload=payload or None,
        language=update.language,
    )
