"""SQLAlchemy 2 models: briefs, items, media, links, audit events, checkpoints, preferences,
users, chats, uploads."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints let Alembic's batch mode (SQLite) drop and alter them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON().with_variant(JSONB(), "postgresql")


def _not_null(column: str) -> dict:
    """A partial index's condition, for both databases: rows where `column` has a value."""
    where = text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware timestamps on both databases (SQLite drops the zone; we put it back).

    A TypeDecorator, not a DateTime subclass: SQLite's dialect swaps DateTime for its own
    DATETIME type, which silently dropped an overridden result_processor."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001, ANN201 - SQLAlchemy hook
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC)  # SQLite keeps the wall time only: make it UTC's
        return value

    def process_result_value(self, value, dialect):  # noqa: ANN001, ANN201
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Brief(Base):
    """One survey record (an action brief), or a brief created from chat or by a coordinator."""

    __tablename__ = "briefs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    response_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(300))
    organisation: Mapped[str | None] = mapped_column(String(300))
    country: Mapped[str | None] = mapped_column(String(100))
    level: Mapped[str | None] = mapped_column(String(100))
    summary: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    submitted_at: Mapped[str | None] = mapped_column(String(64))
    contacts: Mapped[list] = mapped_column(Json, default=list)  # extra emails, "tg:<id>"
    extra: Mapped[dict] = mapped_column(Json, default=dict)  # unmapped survey columns
    # " word word … ": code, title, email, name, organisation, normalised as for matching
    # (intake.review.search fills it), so a search can match word starts with one LIKE.
    search_text: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="survey")  # survey|chat|coordinator
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Item(Base):
    """One received thing (an email, a chat message or album), from accept to verdict."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_status_id", "status", "id"),
        Index("ix_items_status_channel", "status", "channel"),  # dashboard counts
        Index("ix_items_received_at", "received_at"),  # today's counts, date filters
        # Only rows that have one: items arrive without a brief, chat items without a
        # Message-ID, and lookups ask for a value (migration 0008).
        Index("ix_items_brief_id", "brief_id", **_not_null("brief_id")),
        Index("ix_items_message_id", "message_id", **_not_null("message_id")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(512), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    source: Mapped[dict] = mapped_column(Json, default=dict)  # envelope, mailbox/uid, chat...
    raw_sha256: Mapped[str] = mapped_column(String(64))
    # A small raw item is committed here by accept, so one commit makes a whole batch
    # durable; the worker moves it to the blob store before it saves the verdict. Deferred:
    # listings never read it, and touching it unloaded raises instead of a hidden query.
    raw_inline: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True,
                                                     deferred_raiseload=True)
    raw_size: Mapped[int] = mapped_column(BigInteger)
    raw_type: Mapped[str] = mapped_column(String(64))  # message/rfc822 | application/json
    status: Mapped[str] = mapped_column(String(16), default="received")
    brief_id: Mapped[int | None] = mapped_column(ForeignKey("briefs.id", ondelete="SET NULL"))
    rule: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[list] = mapped_column(Json, default=list)
    candidates: Mapped[list] = mapped_column(Json, default=list)
    features: Mapped[dict] = mapped_column(Json, default=dict)
    sender: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(998))
    chat_id: Mapped[str | None] = mapped_column(String(64), index=True)
    language: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker: Mapped[str | None] = mapped_column(String(64))  # processing claim
    worker_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))  # review claim lock
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Media(Base):
    """One stored file (by sha256) or one video link; shared by every item that carried it."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(2100), unique=True)  # sha256:<hex> | link:<url>
    sha256: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # video|audio|image|document|...|link
    mime: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(BigInteger)
    url: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)  # tg file_unique_id
    flags: Mapped[list] = mapped_column(Json, default=list)
    details: Mapped[dict] = mapped_column(Json, default=dict)  # duration, codec, thumbnail...
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ItemMedia(Base):
    """An item carried a medium under a filename."""

    __tablename__ = "item_media"
    __table_args__ = (UniqueConstraint("item_id", "media_id", "filename"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id"), index=True)
    filename: Mapped[str] = mapped_column(String(300), default="")
    declared_type: Mapped[str | None] = mapped_column(String(200))


class Event(Base):
    """Audit log: who did what to which item or brief, and when."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    brief_id: Mapped[int | None] = mapped_column(ForeignKey("briefs.id"), index=True)
    detail: Mapped[dict] = mapped_column(Json, default=dict)


class Checkpoint(Base):
    """A channel's resume point, e.g. an IMAP mailbox's UIDVALIDITY and last UID."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("channel", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(500))
    value: Mapped[dict] = mapped_column(Json, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Preference(Base):
    """A choice the review app remembers, by name (e.g. the survey import's columns)."""

    __tablename__ = "preferences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    value: Mapped[dict] = mapped_column(Json, default=dict)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class User(Base):
    """A coordinator, viewer or admin of the review app."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin|coordinator|viewer
    password_hash: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Chat(Base):
    """A Telegram chat: the brief it is bound to, its language and conversation state."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), unique=True)
    brief_id: Mapped[int | None] = mapped_column(ForeignKey("briefs.id", ondelete="SET NULL"))
    language: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[dict] = mapped_column(Json, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Outbound(Base):
    """A message we sent or chose not to send (acknowledgements), for threading and rate caps."""

    __tablename__ = "outbound"
    __table_args__ = (Index("ix_outbound_recipient_day", "recipient", "brief_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    brief_id: Mapped[int | None] = mapped_column(ForeignKey("briefs.id"))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, for the daily cap
    message_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # sent|suppressed|failed
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LinkFetch(Base):
    """The fetch of one link medium into the store (issue #13): its queue state and outcome."""

    __tablename__ = "link_fetches"
    __table_args__ = (Index("ix_link_fetches_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id"), unique=True)
    url: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(32))  # parsers.providers name
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|fetched|failed
    reason: Mapped[str | None] = mapped_column(String(32))  # intake.links.errors REASONS
    error: Mapped[str | None] = mapped_column(Text)  # the technical detail, for operators
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker: Mapped[str | None] = mapped_column(String(64))  # fetch lease
    worker_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    size: Mapped[int | None] = mapped_column(BigInteger)
    file_media_id: Mapped[int | None] = mapped_column(ForeignKey("media.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class UploadLink(Base):
    """A private upload link bound to one brief (issue 14); the signed token names its id."""

    __tablename__ = "upload_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    brief_id: Mapped[int] = mapped_column(ForeignKey("briefs.id", ondelete="CASCADE"),
                                          index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Upload(Base):
    """One resumable (tus) upload: its confirmed offset is only ever an fsync'd one."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_status_expires", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # open|finished|accepted|terminated|expired
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    filename: Mapped[str] = mapped_column(String(300))
    filetype: Mapped[str | None] = mapped_column(String(200))
    brief_id: Mapped[int | None] = mapped_column(ForeignKey("briefs.id", ondelete="SET NULL"))
    link_id: Mapped[str | None] = mapped_column(ForeignKey("upload_links.id"))
    code: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
