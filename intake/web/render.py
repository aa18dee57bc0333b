"""Server-side HTML: the Jinja2 environment (autoescaping everything) and its filters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import jinja2
from aiohttp import web

from intake.web.security import COOKIE
from intake.web.state import SESSION, SIGNER, TEMPLATES, USER
from intake.web.text import t

TEMPLATE_DIR = Path(__file__).with_name("templates")
PLAYABLE = {  # sniffed types a browser plays inline; anything else is a download
    "video": ("video/mp4", "video/webm", "video/ogg", "video/quicktime"),
    "audio": ("audio/mpeg", "audio/ogg", "audio/wav", "audio/x-wav", "audio/mp4", "audio/webm",
              "audio/flac", "audio/aac", "audio/opus"),
    "image": ("image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp"),
}


def playable(media: dict) -> str | None:
    """'video', 'audio' or 'image' when the browser may show this medium inline."""
    kind = media.get("kind")
    if kind in PLAYABLE and media.get("mime") in PLAYABLE[kind]:
        return kind
    return None


def when(value: str | datetime | None) -> str:
    if not value:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(value: str | datetime | int | None) -> str:
    """'3 d 4 h', '12 min': how long ago, from a timestamp or a number of seconds."""
    if value is None or value == "":
        return "–"
    if isinstance(value, int):
        seconds = value
    else:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        seconds = int((datetime.now(UTC) - moment).total_seconds())
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return t("age.days", d=days, h=hours)
    if hours:
        return t("age.hours", h=hours, m=rest // 60)
    if rest >= 60:
        return t("age.minutes", m=rest // 60)
    return t("age.now")


def size(value: int | None) -> str:
    if value is None:
        return "–"
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def clip(details: dict) -> str:
    """A video's length and picture size from its details, e.g. " · 1:05 · 1280×720"."""
    parts = []
    seconds = details.get("duration")
    if isinstance(seconds, int | float):
        parts.append(f"{int(seconds) // 60}:{int(seconds) % 60:02d}")
    if details.get("width") and details.get("height"):
        parts.append(f"{details['width']}×{details['height']}")
    return "".join(f" · {part}" for part in parts)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)} %"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,  # every template, whatever its name: submitted text is never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["t"] = t
    env.globals["playable"] = playable
    env.filters.update(when=when, age=age, size=size, percent=percent, clip=clip)
    return env


def csrf_token(request: web.Request) -> str:
    session = request.get(SESSION)
    return request.app[SIGNER].csrf_token(session) if session else ""


def render(request: web.Request, template: str, status: int = 200, **context: object
           ) -> web.Response:
    context.setdefault("flash", None)
    context.setdefault("error", None)
    html = request.app[TEMPLATES].get_template(template).render(
        user=request.get(USER), csrf=csrf_token(request), path=request.path,
        query=request.query, signed_in=COOKIE in request.cookies, **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
