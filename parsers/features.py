"""The plain data that matching reads: an item's features, a brief record, a candidate."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Features:
    """What the matching rules may read of one item; JSON-serialisable via asdict()."""

    channel: str  # "smtp" | "imap" | "telegram"
    sender: str | None = None  # lower-cased email address, or "tg:<user id>"
    subject: str = ""
    text: str = ""  # plain text (HTML reduced to text), at most TEXT_LIMIT chars
    filenames: list[str] = field(default_factory=list)
    message_id: str | None = None
    references: list[str] = field(default_factory=list)  # In-Reply-To first, then References
    chat_id: str | None = None
    start_payload: str | None = None  # Telegram /start or /brief argument
    language: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Features:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


TEXT_LIMIT = 20_000


@dataclass(frozen=True)
class BriefRecord:
    """The part of a brief (survey record) that matching needs."""

    id: int
    ref: str
    title: str
    response_id: str | None = None
    emails: tuple[str, ...] = ()  # lower-cased; may hold "tg:<user id>" contacts too


@dataclass(frozen=True)
class Candidate:
    """One rule's guess: this brief, this sure, because of this text."""

    brief_id: int
    confidence: float  # in [0, 1]
    rule: str
    evidence: str

    def to_json(self) -> dict:
        return asdict(self)
