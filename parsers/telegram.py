"""Telegram updates (Bot API JSON) read into the chat core's ChatUpdate: who, where, what."""

from __future__ import annotations

import json

from channels.chat import CHOICE, EDIT, MESSAGE, ChatFile, ChatUpdate

# Update fields that carry a message, and whether they are an edit of an earlier one.
MESSAGE_KINDS = {
    "message": False,
    "channel_post": False,
    "business_message": False,
    "edited_message": True,
    "edited_channel_post": True,
    "edited_business_message": True,
}
# Message fields holding a file, in the order we read them (a message carries at most one).
MEDIA_FIELDS = ("video", "video_note", "animation", "document", "photo", "voice", "audio")
# What a file probably is before its bytes are sniffed (only used when we cannot download it).
DECLARED_KIND = {"video": "video", "video_note": "video", "animation": "video", "photo": "image",
                 "voice": "audio", "audio": "audio", "document": "document"}
COMMAND_LENGTH = 32


def declared_kind(kind: str, mime: str | None) -> str:
    """What a file probably is from Telegram's field and the declared type (before sniffing)."""
    if kind == "document" and mime and mime.split("/")[0] in ("video", "audio", "image"):
        return mime.split("/")[0]
    return DECLARED_KIND.get(kind, "other")


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    if isinstance(value, str):
        return value
    return str(value) if _int(value) is not None else None


def _name(user: dict) -> str | None:
    parts = [user.get("first_name"), user.get("last_name")]
    name = " ".join(p for p in parts if isinstance(p, str) and p).strip()
    username = user.get("username")
    if isinstance(username, str) and username:
        name = f"{name} (@{username})" if name else f"@{username}"
    return name or None


def _language(user: dict) -> str | None:
    code = user.get("language_code")
    return code.lower()[:16] if isinstance(code, str) and code else None


def _media(kind: str, value: object) -> ChatFile | None:
    if kind == "photo":
        # A photo comes in several sizes; the last one is the largest.
        sizes = [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []
        value = max(sizes, key=lambda s: (_int(s.get("file_size")) or 0,
                                          (_int(s.get("width")) or 0))) if sizes else None
    data = _dict(value)
    file_id, unique = _str(data.get("file_id")), _str(data.get("file_unique_id"))
    if not file_id or not unique:
        return None
    mime = _str(data.get("mime_type"))
    return ChatFile(kind, file_id, unique, _int(data.get("file_size")), mime,
                    _str(data.get("file_name")), _int(data.get("duration")),
                    declared_kind(kind, mime))


def _forward(message: dict) -> str | None:
    origin = _dict(message.get("forward_origin"))
    if not origin:
        return None
    who = (_name(_dict(origin.get("sender_user"))) or _str(origin.get("sender_user_name"))
           or _str(_dict(origin.get("sender_chat")).get("title"))
           or _str(_dict(origin.get("chat")).get("title")) or "unknown")
    return f"{origin.get('type', 'user')}: {who}"


def _read_command(update: ChatUpdate, entities: object, bot_username: str | None) -> None:
    """`/cmd@bot args` at the very start of the text, as Telegram marks it."""
    first = _dict(entities[0]) if isinstance(entities, list) and entities else {}
    if first.get("type") != "bot_command" or first.get("offset") != 0:
        return
    length = _int(first.get("length")) or 0
    word = update.text[1:length]
    name, _, addressee = word.partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        update.for_other_bot = True
        return
    update.command = name.lower()[:COMMAND_LENGTH] or None
    update.args = update.text[length:].strip()


def _read_message(update: ChatUpdate, message: dict, bot_username: str | None) -> None:
    chat, user = _dict(message.get("chat")), _dict(message.get("from"))
    update.chat_id, update.chat_type = _str(chat.get("id")), _str(chat.get("type"))
    update.user_id, update.user_name = _str(user.get("id")), _name(user)
    update.language = _language(user)
    update.message_id = _int(message.get("message_id"))
    text, entities = message.get("text"), message.get("entities")
    if not isinstance(text, str):
        text, entities = message.get("caption"), message.get("caption_entities")
    update.text = text if isinstance(text, str) else ""
    _read_command(update, entities, bot_username)
    update.media_group_id = _str(message.get("media_group_id"))
    update.reply_to = _int(_dict(message.get("reply_to_message")).get("message_id"))
    update.forward = _forward(message)
    _read_media(update, message)
    if not update.text and not update.media and not update.malformed:
        update.other = next((k for k in message if k not in _ENVELOPE), None)
    _check_message(update)


def _read_media(update: ChatUpdate, message: dict) -> None:
    for kind in MEDIA_FIELDS:
        if kind in message:
            found = _media(kind, message[kind])
            if found is None:
                update.malformed = f"{kind} without a usable file id"
            else:
                update.media.append(found)


_ENVELOPE = {"message_id", "from", "chat", "date", "sender_chat", "message_thread_id",
             "reply_to_message", "forward_origin", "is_topic_message", "edit_date",
             "media_group_id", "author_signature", "has_protected_content", "via_bot",
             "business_connection_id", "sender_business_bot", "is_from_offline"}


def _check_message(update: ChatUpdate) -> None:
    if update.malformed:
        return
    if update.chat_id is None:
        update.malformed = "message without a chat id"
    elif update.message_id is None:
        update.malformed = "message without a message id"


def _read_callback(update: ChatUpdate, query: dict) -> None:
    user, message = _dict(query.get("from")), _dict(query.get("message"))
    update.user_id, update.user_name = _str(user.get("id")), _name(user)
    update.language = _language(user)
    update.chat_id = _str(_dict(message.get("chat")).get("id"))
    update.message_id = _int(message.get("message_id"))
    update.choice_id, update.choice_data = _str(query.get("id")), _str(query.get("data"))
    if not update.choice_id:
        update.malformed = "callback query without an id"


def _read_other(update: ChatUpdate, body: dict) -> None:
    """Membership changes, reactions and the like: who and where, nothing to match."""
    chat, user = _dict(body.get("chat")), _dict(body.get("from") or body.get("user"))
    update.chat_id, update.chat_type = _str(chat.get("id")), _str(chat.get("type"))
    update.user_id, update.user_name = _str(user.get("id")), _name(user)
    update.language = _language(user)
    update.other = update.kind


def _read_body(update: ChatUpdate, body: object, bot_username: str | None) -> None:
    """The update's one field: a message (or an edit), a button tap, or something else."""
    if not isinstance(body, dict):
        update.malformed = f"{update.kind} is not an object"
    elif update.kind in MESSAGE_KINDS:
        update.event = EDIT if MESSAGE_KINDS[update.kind] else MESSAGE
        _read_message(update, body, bot_username)
    elif update.kind == "callback_query":
        update.event = CHOICE
        _read_callback(update, body)
    else:
        _read_other(update, body)


def parse_update(raw: bytes | str, bot_username: str | None = None) -> ChatUpdate:
    """Read one update as Telegram sent it; never raises, sets `malformed` instead."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return ChatUpdate(malformed=f"not JSON: {exc}"[:300])
    if not isinstance(data, dict):
        return ChatUpdate(malformed="not a JSON object")
    update = ChatUpdate(update_id=_int(data.get("update_id")))
    update.kind = next((k for k in data if k != "update_id"), "unknown")
    _read_body(update, data.get(update.kind), bot_username)
    if update.update_id is None and not update.malformed:
        update.malformed = "no update_id"
    return update
