"""Reading query parameters: queue filters, keyset cursors, ids; bad input is a 400."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from intake.web.text import TEXT, t
from store.web_queries import QueueFilter

STATUSES = ("unmatched", "failed", "matched", "rejected", "received")
CHANNELS = ("smtp", "imap", "telegram", "whatsapp")
# Every flag the app has a label for, in text.py's order: the queue's flag filter offers them.
FLAGS = tuple(key.removeprefix("flag.") for key in TEXT if key.startswith("flag."))
FIELD_LABELS = {"since": "filter.since", "until": "filter.until", "video": "filter.video",
                "channel": "field.channel", "status": "field.status", "flag": "field.flag"}


def integer(query: Any, name: str, default: int = 0, high: int = 2**62) -> int:
    value = query.get(name, "")
    if value in ("", None):
        return default
    try:
        number = int(value)
    except ValueError:
        raise web.HTTPBadRequest(text=t("error.bad_param", name=name,
                                        label=_label(name))) from None
    if not 0 <= number <= high:
        raise web.HTTPBadRequest(text=t("error.bad_param", name=name, label=_label(name)))
    return number


def _date(query: Any, name: str) -> datetime | None:
    value = (query.get(name) or "").strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise web.HTTPBadRequest(text=t("error.bad_date", name=name, label=_label(name),
                                        value=value[:40])) from None
    return day.replace(tzinfo=UTC)


def _label(name: str) -> str:
    """The filter's label on the queue page, so the error names the field the user sees."""
    return t(FIELD_LABELS.get(name, ""), default=name)


def _choice(query: Any, name: str, choices: tuple[str, ...], default: str | None = None
            ) -> str | None:
    value = (query.get(name) or "").strip() or default
    if value is not None and value not in choices:
        raise web.HTTPBadRequest(text=t("error.bad_param", name=name, label=_label(name)))
    return value


def queue_filter(query: Any, status: str = "unmatched") -> QueueFilter:
    """?channel=&since=YYYY-MM-DD&until=YYYY-MM-DD (inclusive)&video=yes|no&language=&flag="""
    until = _date(query, "until")
    video = _choice(query, "video", ("yes", "no"))
    return QueueFilter(
        status=_choice(query, "status", STATUSES, status) or status,
        channel=_choice(query, "channel", CHANNELS),
        since=_date(query, "since"),
        until=until + timedelta(days=1) if until else None,
        has_video=None if video is None else video == "yes",
        language=(query.get("language") or "").strip()[:16] or None,
        flag=(query.get("flag") or "").strip()[:100] or None,
    )


def filter_query(query: Any) -> dict[str, str]:
    """The filter parameters as given, to carry into pagination links."""
    names = ("status", "channel", "since", "until", "video", "language", "flag")
    return {n: query[n] for n in names if query.get(n)}


def ids(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise web.HTTPBadRequest(text=t("error.bad_param", name="id", label="id")) from None
