"""The contract every channel speaks: the RawItem it builds, the accept callable, its errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

EMAIL = "message/rfc822"
TELEGRAM_UPDATE = "application/vnd.telegram.update+json"
WHATSAPP_EVENT = "application/vnd.whatsapp.event+json"  # one webhook event (#16)


@dataclass(frozen=True)
class RawItem:
    """One thing received, exactly as it came, with where it came from."""

    channel: str  # "smtp" | "imap" | "telegram"
    raw: bytes  # the .eml bytes, or the Telegram update JSON
    content_type: str  # EMAIL | TELEGRAM_UPDATE
    external_id: str | None = None  # the source's own id (update_id, mailbox uid); may be None
    source: dict = field(default_factory=dict)  # envelope sender/recipients, peer, mailbox...


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
