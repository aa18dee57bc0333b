"""File-sharing providers as a table of pure functions: a shared URL → the request that yields
its bytes, and a provider's page (confirmation form, JSON API answer) → the next request."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

PAGE_TYPES = ("text/html", "application/json", "application/xhtml+xml")


@dataclass(frozen=True)
class Request:
    """One HTTP request of a provider's flow (no credentials: only what a browser sends)."""

    url: str
    method: str = "GET"
    json: dict | None = None
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """A provider's answer that is a page, not the file: its final URL, status, type and body."""

    url: str
    status: int
    content_type: str
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Refusal(Exception):
    """A provider's page says why there is no file: reason is an intake.links.errors reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


Start = Callable[[str], Request]
Follow = Callable[[Page], "Request | None"]


def _no_follow(page: Page) -> Request | None:
    return None


@dataclass(frozen=True)
class Provider:
    name: str
    start: Start  # the first request for a shared URL
    follow: Follow = _no_follow  # a page it answered → the next request (None: no more)
    fetched: bool = True  # False: hosted video (YouTube, Vimeo) that stays a link


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _with_query(url: str, **values: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in values]
    return urlunsplit(parts._replace(query=urlencode(query + list(values.items()))))


# -- direct -------------------------------------------------------------------------------

def _direct(url: str) -> Request:
    return Request(url)


# -- Google Drive -------------------------------------------------------------------------

_DRIVE_ID = re.compile(r"/(?:file/(?:u/\d+/)?d|d)/([\w-]{10,})")
_FORM = re.compile(r"<form[^>]*id=\"download-form\"[^>]*action=\"([^\"]+)\"(.*?)</form>",
                   re.DOTALL | re.IGNORECASE)
_HIDDEN = re.compile(r"<input[^>]*type=\"hidden\"[^>]*name=\"([^\"]+)\"[^>]*value=\"([^\"]*)\"",
                     re.IGNORECASE)


def drive_file_id(url: str) -> str | None:
    parts = urlsplit(url)
    found = _DRIVE_ID.search(parts.path)
    if found:
        return found.group(1)
    ids = parse_qs(parts.query).get("id")
    return ids[0] if ids else None


def _drive(url: str) -> Request:
    file_id = drive_file_id(url)
    if file_id is None:  # a folder, or a link we cannot read: let the page say what it is
        return Request(url)
    return Request(f"https://drive.google.com/uc?export=download&id={file_id}")


def _drive_follow(page: Page) -> Request | None:
    """Large files answer with a "can't scan for viruses" page whose form downloads anyway."""
    text = page.text()
    if "accounts.google.com" in _host(page.url) or "ServiceLogin" in page.url:
        raise Refusal("needs_signin", "Google asks to sign in: the file is not shared publicly")
    form = _FORM.search(text)
    if form is None:
        if page.status == 404:
            raise Refusal("not_found", "Google Drive has no such file")
        return None
    action = html.unescape(form.group(1))
    fields = {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(form.group(2))}
    return Request(_with_query(action, **fields))


# -- Dropbox ------------------------------------------------------------------------------

def _dropbox(url: str) -> Request:
    if _host(url).endswith("dropboxusercontent.com"):
        return Request(url)
    return Request(_with_query(url, dl="1"))  # dl=1: the file itself, not the preview page


# -- OneDrive and SharePoint --------------------------------------------------------------

def onedrive_share_token(url: str) -> str:
    """The shares API's id for a sharing URL: "u!" + unpadded base64url of the URL."""
    encoded = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    return f"u!{encoded}"


def _onedrive(url: str) -> Request:
    return Request(f"https://api.onedrive.com/v1.0/shares/{onedrive_share_token(url)}"
                   "/root/content")


def _sharepoint(url: str) -> Request:
    return Request(_with_query(url, download="1"))


# -- WeTransfer ---------------------------------------------------------------------------

_WT_PATH = re.compile(r"^/downloads/([0-9a-f]+)/(?:([0-9a-f]+)/)?([0-9a-f]+)/?$")


def _wetransfer_api(url: str) -> Request | None:
    found = _WT_PATH.match(urlsplit(url).path)
    if found is None:
        return None
    transfer, recipient, security_hash = found.groups()
    body = {"security_hash": security_hash, "intent": "entire_transfer"}
    if recipient:
        body["recipient_id"] = recipient
    return Request(f"https://wetransfer.com/api/v4/transfers/{transfer}/download",
                   method="POST", json=body)


def _wetransfer(url: str) -> Request:
    # we.tl/t-… redirects to wetransfer.com/downloads/…: follow() takes it from there.
    return _wetransfer_api(url) or Request(url)


def _wetransfer_follow(page: Page) -> Request | None:
    if page.content_type != "application/json":
        return _wetransfer_api(page.url)
    try:
        answer = json.loads(page.body)
    except ValueError:
        raise Refusal("provider_error", "WeTransfer answered with a page we cannot read") from None
    if isinstance(answer, dict) and answer.get("direct_link"):
        return Request(str(answer["direct_link"]))
    message = str(answer.get("message", "")) if isinstance(answer, dict) else ""
    if page.status in (404, 410) or "expired" in message.lower():
        raise Refusal("expired", f"WeTransfer: {message or 'the transfer has expired'}")
    raise Refusal("provider_error", f"WeTransfer: {message or page.status}")


# -- Box ----------------------------------------------------------------------------------

_BOX_SHARED = re.compile(r"^/s/([\w-]+)")
_BOX_FILE_ID = re.compile(r"\"typedID\"\s*:\s*\"f_(\d+)\"")


def _box_follow(page: Page) -> Request | None:
    parts = urlsplit(page.url)
    shared = _BOX_SHARED.match(parts.path)
    file_id = _BOX_FILE_ID.search(page.text())
    if shared is None or file_id is None:
        if page.status == 404:
            raise Refusal("not_found", "Box has no such shared link")
        return None
    query = urlencode({"rm": "box_download_shared_file", "shared_name": shared.group(1),
                       "file_id": f"f_{file_id.group(1)}"})
    return Request(urlunsplit((parts.scheme, parts.netloc, "/index.php", query, "")))


# -- the table ----------------------------------------------------------------------------

DIRECT = Provider("direct", _direct)
HOSTED = Provider("hosted", _direct, fetched=False)

# Host (or a host it ends with, after a dot) → provider. Adding one: a function, a line.
PROVIDERS: dict[str, Provider] = {
    "drive.google.com": Provider("google_drive", _drive, _drive_follow),
    "docs.google.com": Provider("google_drive", _drive, _drive_follow),
    "drive.usercontent.google.com": Provider("google_drive", _direct, _drive_follow),
    "dropbox.com": Provider("dropbox", _dropbox),
    "dropboxusercontent.com": Provider("dropbox", _dropbox),
    "db.tt": Provider("dropbox", _direct),
    "onedrive.live.com": Provider("onedrive", _onedrive),
    "1drv.ms": Provider("onedrive", _onedrive),
    "sharepoint.com": Provider("sharepoint", _sharepoint),
    "wetransfer.com": Provider("wetransfer", _wetransfer, _wetransfer_follow),
    "we.tl": Provider("wetransfer", _wetransfer, _wetransfer_follow),
    "box.com": Provider("box", _direct, _box_follow),
    "youtube.com": HOSTED, "youtube-nocookie.com": HOSTED, "youtu.be": HOSTED,
    "vimeo.com": HOSTED,
}


def provider_for(url: str) -> Provider:
    """The provider whose host the URL is on (a subdomain counts); direct otherwise."""
    host = _host(url)
    while host:
        if host in PROVIDERS:
            return PROVIDERS[host]
        host = host.partition(".")[2]
    return DIRECT


def is_page(content_type: str) -> bool:
    return content_type in PAGE_TYPES
