"""Private upload links: a signed token naming a link row bound to one brief; revocable."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from intake.context import Context
from intake.media.links import upload_url
from store.models import utcnow
from store.uploads import add_link, live_link, live_links, revoke_links

MAC_CHARS = 22
OFFERED_BY = "intake"  # the actor of the links intake offers on its own (chat, acknowledgements)

log = logging.getLogger(__name__)


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


async def offer_url(ctx: Context, brief_id: int | None, ref: str = "") -> str | None:
    """Where intake tells someone to upload a file: a private link bound to the brief when
    there is one (an offered link with more than half its life left is offered again, so
    the same person is not handed a new link for every reply), else the general page with
    the code filled in; None without a public web address."""
    if not ctx.settings.web_enabled or not ctx.settings.web_base_url:
        return None
    if brief_id is None:
        return upload_url(ctx.settings, ref)
    try:
        signer = signer_for(ctx)
    except (OSError, ValueError) as exc:  # no usable web secret here: the page still works
        log.warning("no private upload link for brief %s (%s); offering /upload", brief_id, exc)
        return await offer_url(ctx, None, ref)
    half_life = timedelta(days=ctx.settings.upload_link_days / 2)
    async with ctx.db.reader()() as session:
        offered = [link for link in await live_links(session, brief_id)
                   if link.created_by == OFFERED_BY and link.expires_at > utcnow() + half_life]
    if offered:
        return link_url(ctx, signer.token(offered[0].id))
    return link_url(ctx, await new_link(ctx, signer, brief_id, OFFERED_BY))


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
