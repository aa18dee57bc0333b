"""The contract every channel speaks: the RawItem it builds, the accept callable, its errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

EMAIL = "message/rfc822"
TELEGRAM_UPDATE = "application/vnd.telegram.update+json"
WHATSAPP_EVENT = "application/vnd.whatsapp.event+json"  # one webhook event (#16)


@dataclass(frozen=True)
class SpoolFile:
    """Raw bytes too big to hold in memory, received into a file on the way in (SMTP DATA).

    The channel owns the file: it removes whatever is left of it once accept has answered
    (accept moves it into the blob store)."""

    path: Path
    size: int
    sha256: str
    head: bytes  # the first bytes (the header section, for the Message-ID)


@dataclass(frozen=True)
class RawItem:
    """One thing received, exactly as it came, with where it came from."""

    channel: str  # "smtp" | "imap" | "telegram"
    raw: bytes  # the .eml bytes, or the Telegram update JSON; b"" when spooled
    content_type: str  # EMAIL | TELEGRAM_UPDATE
    external_id: str | None = None  # the source's own id (update_id, mailbox uid); may be None
    source: dict = field(default_factory=dict)  # envelope sender/recipients, peer, mailbox...
    spooled: SpoolFile | None = None  # the bytes are in this file instead of `raw`

    @property
    def size(self) -> int:
        return self.spooled.size if self.spooled else len(self.raw)


@dataclass(frozen=True)
class Accepted:
    """accept's answer: the item's id, and whether it was already there."""

    item_id: int
    duplicate: bool = False


class AcceptError(Exception):
    """accept could not take the item; the channel maps the subclass to its protocol."""


class Rejected(AcceptError):
    """Refused for good (malformed beyond storing, not ours); the source should not retry."""


class TryLater(AcceptError):
    """A transient failure (storage down, overloaded); nothing was kept, the source must retry."""


Accept = Callable[[RawItem], Awaitable[Accepted]]

AcceptMany = Callable[[Sequence[RawItem]], Awaitable[list[Accepted]]]
"""The same front door for a batch (one getUpdates answer): all durable, in one commit."""
