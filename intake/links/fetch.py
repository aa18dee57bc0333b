"""One link's fetch: walk its provider's flow (pages, JSON answers) to the file, stream the
file to the spool, and type it from its bytes; any failure is a FetchFailed with a reason."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp

from intake.links.client import Limits, open_url
from intake.links.download import (
    DROPPED,
    Download,
    carry_on,
    check_announced,
    range_request,
    stream_to,
)
from intake.links.errors import FetchFailed, reason_for_status
from intake.links.partial import Partial, open_partial
from parsers.providers import Page, Refusal, Request, is_page, provider_for
from parsers.sniff import safe_filename, sniff

MAX_STEPS = 4  # provider pages before the file (Drive: the link, the confirmation form)
PAGE_BYTES = 2 << 20  # a provider's page is read whole, up to this
MEDIA_KINDS = ("video", "audio", "image", "document")
CHECKPOINT = 64 << 20  # bytes between fsync'd checkpoints of a fetch (INTAKE_LINK_CHECKPOINT_BYTES)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    """A file fetched into the spool, typed from its first bytes."""

    path: Path
    sha256: str
    size: int
    mime: str
    kind: str
    flags: tuple[str, ...]
    filename: str
    provider: str


def _content_type(response: aiohttp.ClientResponse) -> str:
    return response.headers.get("Content-Type", "").partition(";")[0].strip().lower()


async def _page(response: aiohttp.ClientResponse) -> Page:
    body = await response.content.read(PAGE_BYTES)
    return Page(str(response.url), response.status, _content_type(response), body)


async def _reach_file(session: aiohttp.ClientSession, url: str, limits: Limits,
                      ) -> aiohttp.ClientResponse:
    """The response that carries the file's bytes, after the provider's pages."""
    provider = provider_for(url)
    request: Request | None = provider.start(url)
    for _step in range(MAX_STEPS):
        response = await open_url(session, request, limits)
        if response.status == 200 and not is_page(_content_type(response)):
            return response
        async with response:
            page = await _page(response)
        try:
            request = provider.follow(page)
        except Refusal as exc:
            raise FetchFailed(exc.reason, str(exc)) from None
        if request is None:
            raise _judge(page)
    raise FetchFailed("provider_error", f"no file after {MAX_STEPS} pages of {provider.name}")


def _judge(page: Page) -> FetchFailed:
    """Why a page that is not the file ends the flow."""
    if page.status != 200:
        return FetchFailed(reason_for_status(page.status), f"HTTP {page.status} from {page.url}")
    if "accounts.google.com" in page.url or "/login" in urlsplit(page.url).path:
        return FetchFailed("needs_signin", f"the link leads to a sign-in page ({page.url})")
    return FetchFailed("not_media", f"the link gives a web page ({page.content_type}), "
                                    "not a file")


def _check_head(head: bytes) -> None:
    typed = sniff(head)
    if typed.kind not in MEDIA_KINDS or typed.mime in ("text/html", "application/xhtml+xml"):
        raise FetchFailed("not_media", f"the file is {typed.mime}, not a media file")


def _filename(download: Download) -> str:
    from email.message import Message

    message = Message()
    message["Content-Disposition"] = download.disposition or "attachment"
    name = message.get_filename() or unquote(urlsplit(download.url).path.rsplit("/", 1)[-1])
    return safe_filename(name, "linked-file")


async def fetch(session: aiohttp.ClientSession, url: str, spool: Path, limits: Limits,
                key: str | None = None, every: int = CHECKPOINT) -> Fetched:
    """Fetch the file behind `url` into a new spool file (the caller moves or removes it).

    With a key (the fetch's id), the bytes are checkpointed every `every` bytes as they come,
    and a fetch cut by a restart (or a failed attempt) resumes from its last checkpoint with
    Range and If-Range, so the server sends the rest of the same file or the whole again."""
    spool.mkdir(parents=True, exist_ok=True)
    partial = await asyncio.to_thread(open_partial, spool, key, url) if key else None
    if partial is None:  # no key, or another process still holds this fetch's partial file
        return await _fetch_once(session, url, spool, limits)
    try:
        download = Download(partial.path, url, on_checkpoint=partial.checkpoint, every=every)
        if not (partial.resumable and await _resumed(session, partial, download, limits)):
            await asyncio.to_thread(partial.reset)
            download = Download(partial.path, url, on_checkpoint=partial.checkpoint,
                                every=every)
            await _download(session, url, download, partial.handle, limits)
        fetched = _typed(download, url)
    except FetchFailed as exc:
        await asyncio.to_thread(partial.keep if exc.reason == "provider_error"
                                else partial.discard)
        raise
    except (*DROPPED, aiohttp.ClientError) as exc:
        await asyncio.to_thread(partial.keep)
        raise _network(exc) from None
    except BaseException:
        partial.keep()  # cancelled (shutdown): the last checkpoint stands for the next try
        raise
    path = await asyncio.to_thread(partial.hand_over)
    return replace(fetched, path=path)


async def _fetch_once(session: aiohttp.ClientSession, url: str, spool: Path, limits: Limits,
                      ) -> Fetched:
    fd, name = tempfile.mkstemp(dir=spool, prefix=f"link-{os.getpid()}-")  # see sweep_spool
    os.close(fd)
    download = Download(Path(name), url)
    try:
        with download.path.open("ab") as handle:
            await _download(session, url, download, handle, limits)
        return _typed(download, url)
    except (*DROPPED, aiohttp.ClientError) as exc:
        Path(name).unlink(missing_ok=True)
        raise _network(exc) from None
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


async def _download(session: aiohttp.ClientSession, url: str, download: Download, handle,  # noqa: ANN001
                    limits: Limits) -> None:
    response = await _reach_file(session, url, limits)
    download.url = str(response.url)
    async with response:
        await stream_to(session, response, download, handle, limits, on_head=_check_head)


async def _resumed(session: aiohttp.ClientSession, partial: Partial, download: Download,
                   limits: Limits) -> bool:
    """Carry on from the checkpoint; False (nothing written) when the server will not send
    the rest of the same file at that offset: the fetch then starts over."""
    await asyncio.to_thread(partial.restore, download)
    request, headers = range_request(download)
    try:
        response = await open_url(session, request, limits, headers)
    except (FetchFailed, *DROPPED, aiohttp.ClientError) as exc:
        log.info("link %s: no resume at %d bytes (%s); starting over", download.url,
                 download.size, exc)
        return False
    async with response:
        if response.status != 206 or not response.headers.get("Content-Range", "").startswith(
                f"bytes {download.size}-"):
            log.info("link %s: the server would not resume at %d bytes (HTTP %d); starting "
                     "over", download.url, download.size, response.status)
            return False
        check_announced(download, response, limits)
        log.info("link %s: resuming at %d bytes, where an earlier attempt stopped",
                 download.url, download.size)
        await carry_on(session, response, download, partial.handle, limits, _check_head)
    return True


def _typed(download: Download, url: str) -> Fetched:
    typed = sniff(download.head, _filename(download))
    return Fetched(download.path, download.sha256, download.size, typed.mime, typed.kind,
                   typed.flags, _filename(download), provider_for(url).name)


def _network(exc: BaseException) -> FetchFailed:
    if isinstance(exc, DROPPED):
        return FetchFailed("provider_error", f"network: {type(exc).__name__}: {exc}")
    return FetchFailed("provider_error", f"{type(exc).__name__}: {exc}")
