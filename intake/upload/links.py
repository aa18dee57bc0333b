"""Private upload links: a signed token naming a link row bound to one brief; revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from intake.context import Context
from store.models import utcnow
from store.uploads import add_link, live_link, revoke_links

MAC_CHARS = 22


class LinkSigner:
    """HMAC-SHA256 of the link id under a key of its own, derived from the web secret."""

    def __init__(self, secret: bytes) -> None:
        self.key = hashlib.sha256(b"intake-upload-link|" + secret).digest()

    def token(self, link_id: str) -> str:
        return f"{link_id}.{self._mac(link_id)}"

    def link_id(self, token: str) -> str | None:
        """The link id a token names, or None when it is not one we signed."""
        link_id, dot, mac = token.partition(".")
        if not dot or not link_id.isalnum() or len(link_id) > 32:
            return None
        return link_id if hmac.compare_digest(mac, self._mac(link_id)) else None

    def _mac(self, link_id: str) -> str:
        digest = hmac.new(self.key, link_id.encode(), hashlib.sha256).hexdigest()
        return digest[:MAC_CHARS]


def signer_for(ctx: Context) -> LinkSigner:
    from intake.web.security import load_secret  # the one web secret, wherever it is kept

    return LinkSigner(load_secret(ctx.settings))


def link_url(ctx: Context, token: str) -> str:
    return f"{ctx.settings.web_base_url.rstrip('/')}/u/{token}"


def general_url(ctx: Context) -> str:
    return f"{ctx.settings.web_base_url.rstrip('/')}/upload"


async def new_link(ctx: Context, signer: LinkSigner, brief_id: int, actor: str) -> str:
    """A fresh private link for the brief (valid INTAKE_UPLOAD_LINK_DAYS); its token."""
    link_id = secrets.token_hex(8)
    expires = utcnow() + timedelta(days=ctx.settings.upload_link_days)
    async with ctx.db.writer()() as session, session.begin():
        await add_link(session, link_id, brief_id, actor, expires)
        from store.queries import add_event

        add_event(session, actor, "upload_link", brief_id=brief_id, link=link_id)
    return signer.token(link_id)


async def brief_of_token(ctx: Context, signer: LinkSigner, token: str) -> tuple[str, int] | None:
    """(link id, brief id) of a live link's token; None for a forged, revoked or old one."""
    link_id = signer.link_id(token)
    if link_id is None:
        return None
    async with ctx.db.reader()() as session:
        link = await live_link(session, link_id)
    return None if link is None else (link.id, link.brief_id)


async def revoke(ctx: Context, brief_id: int, actor: str, link_id: str | None = None) -> int:
    async with ctx.db.writer()() as session, session.begin():
        count = await revoke_links(session, brief_id, link_id)
        from store.queries import add_event

        add_event(session, actor, "upload_link_revoked", brief_id=brief_id, count=count)
    return count
