"""Bot API update payloads as Telegram sends them, for the fake server's queue."""

from __future__ import annotations

import itertools
import time

from tests.telegram.fake_api import BOT_USERNAME, FakeFile

_message_ids = itertools.count(1)


def user(user_id: int = 4242, language: str = "en", first: str = "Amina") -> dict:
    return {"id": user_id, "is_bot": False, "first_name": first, "language_code": language}


def chat_of(sender: dict, chat_id: int | None = None, title: str = "Field team") -> dict:
    if chat_id is None or chat_id > 0:
        return {"id": chat_id or sender["id"], "type": "private",
                "first_name": sender["first_name"]}
    return {"id": chat_id, "type": "supergroup", "title": title}


def message(text: str | None = None, *, sender: dict | None = None, chat_id: int | None = None,
            message_id: int | None = None, **fields: object) -> dict:
    """A message; a leading /command gets its bot_command entity, as clients send it."""
    sender = sender or user()
    body = {"message_id": message_id or next(_message_ids), "from": sender,
            "chat": chat_of(sender, chat_id), "date": int(time.time())}
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            body["entities"] = [{"type": "bot_command", "offset": 0,
                                 "length": len(text.split()[0])}]
    body.update(fields)
    return body


def update(kind: str = "message", **body: object) -> dict:
    return {kind: message(**body)}


def command(text: str, **kw: object) -> dict:
    return {"message": message(text, **kw)}


def video(fake: FakeFile, caption: str | None = None, **kw: object) -> dict:
    media = {"file_id": fake.file_id, "file_unique_id": fake.file_unique_id, "width": 640,
             "height": 360, "duration": 12, "mime_type": "video/mp4", "file_size": fake.size}
    extra = {"caption": caption} if caption else {}
    return {"message": message(video=media, **extra, **kw)}


def photo(fake: FakeFile, caption: str | None = None, **kw: object) -> dict:
    small = {"file_id": "small-" + fake.file_id, "file_unique_id": "small-" + fake.file_unique_id,
             "width": 90, "height": 60, "file_size": 900}
    large = {"file_id": fake.file_id, "file_unique_id": fake.file_unique_id, "width": 1280,
             "height": 960, "file_size": fake.size}
    extra = {"caption": caption} if caption else {}
    return {"message": message(photo=[small, large], **extra, **kw)}


def edited(original: dict, text: str) -> dict:
    body = dict(original["message"])
    body["edit_date"] = int(time.time())
    if "caption" in body or "text" not in body:
        body["caption"] = text
    else:
        body["text"] = text
    return {"edited_message": body}


def callback(data: str, on_message_id: int, *, sender: dict | None = None,
             chat_id: int | None = None) -> dict:
    sender = sender or user()
    bot_message = {"message_id": on_message_id, "date": int(time.time()),
                   "chat": chat_of(sender, chat_id),
                   "from": {"id": 1, "is_bot": True, "first_name": "Intake",
                            "username": BOT_USERNAME},
                   "text": "Which practice is this for?"}
    return {"callback_query": {"id": f"cb-{on_message_id}-{data}", "from": sender,
                               "chat_instance": "ci-1", "data": data, "message": bot_message}}
