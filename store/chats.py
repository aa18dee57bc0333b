"""Queries of the chat apps: chats and their state, chat items, file ids, pending replies.

Every query of items or replies names its `channel` (the chat app's item channel,
e.g. "telegram"): one chat core serves several apps."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Brief, Chat, Item, Media, Outbound, utcnow

# Item channels that are chat apps (a new app adds its name).
CHAT_CHANNELS = ("telegram", "whatsapp")
HANDLED = "handled"  # a command, a conversation step or a part merged into another item


async def get_chat(session: AsyncSession, chat_id: str) -> Chat | None:
    return await session.scalar(select(Chat).where(Chat.chat_id == chat_id))


async def chat_row(session: AsyncSession, chat_id: str) -> Chat:
    """The chat's row, created on first use (a concurrent creator wins the race)."""
    chat = await get_chat(session, chat_id)
    if chat is not None:
        return chat
    try:
        async with session.begin_nested():
            chat = Chat(chat_id=chat_id, state={})
            session.add(chat)
    except IntegrityError:
        chat = await get_chat(session, chat_id)
        if chat is None:
            raise
    return chat


async def earlier_pending(session: AsyncSession, channel: str, chat_id: str,
                          item_id: int) -> int | None:
    """An item of this chat received before `item_id` and not processed yet, if any."""
    return await session.scalar(
        select(Item.id)
        .where(Item.chat_id == chat_id, Item.channel == channel, Item.id < item_id,
               Item.status == "received")
        .order_by(Item.id).limit(1)
    )


def _kind(kinds: Collection[str]):  # noqa: ANN202 - a SQL expression
    return Item.source["kind"].as_string().in_(sorted(kinds))


async def item_for_message(session: AsyncSession, channel: str, kinds: Collection[str],
                           chat_id: str, message_id: int | str) -> Item | None:
    """The item of a chat message (its update's source kind one of `kinds`: not an edit)."""
    found = Item.source["message_id"]
    same = (found.as_integer() == message_id if isinstance(message_id, int)
            else found.as_string() == message_id)
    return await session.scalar(
        select(Item)
        .where(Item.chat_id == chat_id, Item.channel == channel,
               same, _kind(kinds))
        .order_by(Item.id).limit(1)
    )


async def album_first(session: AsyncSession, channel: str, kinds: Collection[str],
                      chat_id: str, group: str) -> int | None:
    """The first item of an album (media_group_id): the one the other parts join."""
    return await session.scalar(
        select(func.min(Item.id))
        .where(Item.chat_id == chat_id, Item.channel == channel,
               Item.source["media_group_id"].as_string() == group, _kind(kinds))
    )


async def media_by_external_id(session: AsyncSession, external_id: str) -> Media | None:
    return await session.scalar(select(Media).where(Media.external_id == external_id))


async def note_external_id(session: AsyncSession, media: Media, external_id: str) -> None:
    """Remember a chat app's id of a file on a stored medium, unless another row holds it."""
    if media.external_id or await media_by_external_id(session, external_id) is not None:
        return
    media.external_id = external_id


async def waiting_items(session: AsyncSession, channel: str, chat_id: str, before: int,
                        limit: int = 20, days: int = 7) -> list[Item]:
    """A chat's recent items left unmatched (we asked for their code), oldest first."""
    return list(await session.scalars(
        select(Item)
        .where(Item.chat_id == chat_id, Item.channel == channel, Item.status == "unmatched",
               Item.id < before, Item.received_at > utcnow() - timedelta(days=days))
        .order_by(Item.id.desc()).limit(limit)
    ))[::-1]


async def chat_items(session: AsyncSession, channel: str, chat_id: str,
                     limit: int = 10) -> list[Item]:
    """What a chat sent, newest first (commands and merged parts left out)."""
    return list(await session.scalars(
        select(Item)
        .where(Item.chat_id == chat_id, Item.channel == channel, Item.status != HANDLED)
        .order_by(Item.id.desc()).limit(limit)
    ))


async def chat_briefs(session: AsyncSession, channel: str, chat_id: str,
                      limit: int = 4) -> list[Brief]:
    """The briefs a chat has used lately: the one it is bound to, those its items went to,
    those it created with /new."""
    chat = await get_chat(session, chat_id)
    ids = [chat.brief_id] if chat is not None and chat.brief_id else []
    rows = await session.execute(
        select(Item.brief_id)
        .where(Item.chat_id == chat_id, Item.channel == channel, Item.brief_id.is_not(None))
        .group_by(Item.brief_id).order_by(func.max(Item.id).desc()).limit(limit)
    )
    ids += [brief_id for (brief_id,) in rows if brief_id not in ids]
    created = (chat.state or {}).get("created", []) if chat is not None else []
    ids += [i for i in reversed(created) if i not in ids]
    briefs = {b.id: b for b in await session.scalars(select(Brief).where(Brief.id.in_(ids)))}
    return [briefs[i] for i in ids if i in briefs][:limit]


async def brief_of_message(session: AsyncSession, channel: str, kinds: Collection[str],
                           key: str, chat_id: str, message_id: int | str) -> int | None:
    """The brief of a chat message: our reply that named it (sent as `key`), or the user's
    matched item."""
    ours = await session.scalar(
        select(Outbound.brief_id).where(Outbound.channel == channel, Outbound.message_id == key))
    if ours is not None:
        return ours
    item = await item_for_message(session, channel, kinds, chat_id, message_id)
    if item is None:
        return None
    if item.status == HANDLED and (item.features or {}).get("merged_into"):
        item = await session.get(Item, item.features["merged_into"])
    return item.brief_id if item is not None and item.status == "matched" else None


# -- replies (an outbox: a reply is recorded first, then sent, so none is lost) -------------


async def reply_for_item(session: AsyncSession, channel: str, item_id: int) -> Outbound | None:
    return await session.scalar(
        select(Outbound).where(Outbound.item_id == item_id, Outbound.channel == channel))


async def queue_reply(session: AsyncSession, channel: str, item_id: int, chat_id: str,
                      brief_id: int | None) -> bool:
    """Record that an item is owed a reply; False when it already has one (reprocessing)."""
    if await reply_for_item(session, channel, item_id) is not None:
        return False
    session.add(Outbound(item_id=item_id, brief_id=brief_id, channel=channel,
                         recipient=chat_id, day=utcnow().date().isoformat(), status="pending"))
    return True


FILED_LATER = "filed_later"  # reason of a reply telling a chat a coordinator filed its item


async def queue_filed_later(session: AsyncSession, item: Item) -> None:
    """Owe the item's chat a word that a coordinator filed it (replacing one not yet sent:
    a chat hears where its item ended up, not every step on the way)."""
    for row in await session.scalars(select(Outbound).where(
            Outbound.item_id == item.id, Outbound.channel == item.channel,
            Outbound.status == "pending", Outbound.reason == FILED_LATER)):
        row.status = "suppressed"
    session.add(Outbound(item_id=item.id, brief_id=item.brief_id, channel=item.channel,
                         recipient=item.chat_id, day=utcnow().date().isoformat(),
                         status="pending", reason=FILED_LATER))


async def pending_replies(session: AsyncSession, channel: str, limit: int = 50,
                          max_age: timedelta = timedelta(days=1)) -> list[Outbound]:
    return list(await session.scalars(
        select(Outbound)
        .where(Outbound.channel == channel, Outbound.status == "pending",
               Outbound.at > utcnow() - max_age)
        .order_by(Outbound.id).limit(limit)
    ))


async def expire_replies(session: AsyncSession, channel: str,
                         max_age: timedelta = timedelta(days=1)) -> int:
    """Replies owed for more than a day are not sent any more: the chat has moved on."""
    stale = list(await session.scalars(
        select(Outbound).where(Outbound.channel == channel, Outbound.status == "pending",
                               Outbound.at <= utcnow() - max_age)))
    for row in stale:
        row.status, row.reason = "failed", "expired before it could be sent"
    return len(stale)


async def last_heard(session: AsyncSession, channel: str, chat_id: str) -> datetime | None:
    """When a chat last sent us anything (for apps that only let a bot answer for a while)."""
    return await session.scalar(
        select(func.max(Item.received_at)).where(Item.channel == channel,
                                                 Item.chat_id == chat_id))
