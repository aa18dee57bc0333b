"""The links kit: for each brief, a mailto: link, a Telegram deep link, a wa.me link and the
upload page, each carrying its code."""

from __future__ import annotations

from urllib.parse import quote

from intake.config import Settings

SUBJECT_TITLE_CHARS = 60  # enough for a person to recognise the brief in the subject


def intake_address(settings: Settings) -> str | None:
    """Where submitters write: the first full address we accept, else our own address."""
    for entry in settings.smtp_recipients:
        if not entry.startswith("@"):
            return entry
    return settings.ack_from.strip() or None


def bot_username(settings: Settings) -> str | None:
    return settings.telegram_bot_username.lstrip("@") or None


def mailto(address: str, ref: str, title: str) -> str:
    """RFC 6068: the subject percent-encoded as UTF-8; the code first, then the title."""
    title = " ".join((title or "").split())
    if len(title) > SUBJECT_TITLE_CHARS:
        title = title[: SUBJECT_TITLE_CHARS - 1].rstrip() + "…"
    subject = f"{ref} {title}".strip()
    return f"mailto:{quote(address, safe='@')}?subject={quote(subject, safe='')}"


def telegram_link(bot: str, ref: str) -> str:
    # A /start payload allows A-Z, a-z, 0-9, _ and -: a code fits as it is.
    return f"https://t.me/{bot}?start={ref}"


def whatsapp_link(number: str, ref: str) -> str:
    # The code alone is typed in: sent as it is, it binds the chat (parsers/whatsapp.py).
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"https://wa.me/{digits}?text={quote(ref, safe='')}"


def upload_url(settings: Settings, ref: str) -> str | None:
    """The upload page (issue 14) with the brief's code filled in; None without a public URL."""
    if not settings.web_base_url:
        return None
    page = f"{settings.web_base_url.rstrip('/')}/upload"
    return f"{page}?code={quote(ref, safe='')}" if ref else page


def brief_links(settings: Settings, ref: str, title: str) -> dict:
    """{"ref", "title", "mailto", "telegram", "whatsapp", "upload"}; a link we cannot build is
    None."""
    address, bot = intake_address(settings), bot_username(settings)
    number = settings.whatsapp_number
    return {
        "ref": ref, "title": title,
        "mailto": mailto(address, ref, title) if address else None,
        "telegram": telegram_link(bot, ref) if bot else None,
        "whatsapp": whatsapp_link(number, ref) if number else None,
        "upload": upload_url(settings, ref),
    }
