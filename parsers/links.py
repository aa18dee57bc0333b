"""Video and file-sharing links found in message text (YouTube, Vimeo, Drive, Dropbox, …)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

# A URL with a scheme, or a bare host name followed by a path ("youtu.be/abc").
_URL = re.compile(
    r"(?:https?://|(?<![\w@./-]))(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d{1,5})?/[^\s<>\"'`{}|\\^]*",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?'\"»>)]}"
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _has_id(path: str) -> bool:
    return any(len(part) >= 5 for part in path.split("/"))


def _youtube(host: str, path: str, query: str) -> bool:
    if host == "youtu.be":
        return _has_id(path)
    if path.startswith("/watch"):
        return bool(parse_qs(query).get("v"))
    return re.match(r"^/(shorts|embed|live|v)/[\w-]{5,}", path) is not None


def _vimeo(host: str, path: str, query: str) -> bool:
    return re.search(r"/\d{5,}", path) is not None


def _google(host: str, path: str, query: str) -> bool:
    if host == "drive.google.com":
        return path.startswith(("/file/", "/drive/folders/", "/uc", "/open"))
    return (
        re.match(r"^/(file|document|presentation|spreadsheets|videos)/(u/\d+/)?d/", path)
        is not None
    )


def _any_path(host: str, path: str, query: str) -> bool:
    return _has_id(path) or bool(query)


def _dropbox(host: str, path: str, query: str) -> bool:
    if host in ("dl.dropboxusercontent.com", "db.tt"):
        return _has_id(path)
    return path.startswith(("/s/", "/sh/", "/scl/", "/l/", "/t/"))


def _box(host: str, path: str, query: str) -> bool:
    return path.startswith(("/s/", "/file/", "/v/", "/folder/"))


def _sharepoint(host: str, path: str, query: str) -> bool:
    return path.startswith(("/:", "/personal/", "/sites/", "/teams/")) or "download" in path


# host (or host suffix after a dot) → does this path point at a file or video?
_HOSTS: dict[str, Callable[[str, str, str], bool]] = {
    "youtube.com": _youtube,
    "youtube-nocookie.com": _youtube,
    "youtu.be": _youtube,
    "vimeo.com": _vimeo,
    "drive.google.com": _google,
    "docs.google.com": _google,
    "dropbox.com": _dropbox,
    "dropboxusercontent.com": _dropbox,
    "db.tt": _dropbox,
    "onedrive.live.com": _any_path,
    "1drv.ms": _any_path,
    "sharepoint.com": _sharepoint,
    "wetransfer.com": _any_path,
    "we.tl": _any_path,
    "box.com": _box,
}


def _trim(url: str) -> str:
    """Drop trailing punctuation, but keep a closing bracket the URL itself opened."""
    while url and url[-1] in _TRAILING:
        last = url[-1]
        if last in _PAIRS and url.count(_PAIRS[last]) >= url.count(last):
            break
        url = url[:-1]
    return url


def _checker(host: str) -> Callable[[str, str, str], bool] | None:
    host = host.removeprefix("www.").removeprefix("m.")
    while host:
        if host in _HOSTS:
            return _HOSTS[host]
        host = host.partition(".")[2]
    return None


# A direct link to a file of these kinds, on any host (issue #13: its bytes are fetched).
_FILE_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".3gp", ".mpg", ".mpeg",
                  ".wmv", ".mp3", ".m4a", ".wav", ".ogg", ".opus", ".flac", ".pdf")


def _is_file_url(path: str) -> bool:
    return path.lower().endswith(_FILE_SUFFIXES)


def _is_video_link(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    checker = _checker(host)
    if checker is None:
        return _is_file_url(parts.path)
    return checker(host.removeprefix("www."), parts.path, parts.query)


def find_video_links(text: str) -> list[str]:
    """Links to videos or shared files, in order of appearance, each once."""
    links: list[str] = []
    for hit in _URL.finditer(text):
        url = _trim(hit.group(0))
        if not url.lower().startswith(("http://", "https://")):
            url = "https://" + url
        if url not in links and _is_video_link(url):
            links.append(url)
    return links


_YOUTUBE_ID = re.compile(r"[\w-]{11}")
_YOUTUBE_PATH = re.compile(r"^/(?:shorts|embed|live|v)/([\w-]{11})(?:[/?]|$)")
_VIMEO_PATH = re.compile(r"^/(?:(?:channels|groups)/[\w-]+/(?:videos/)?|video/)?(\d{5,})"
                         r"(?:/([0-9a-f]{6,}))?/?$")


def embed_url(url: str) -> str | None:
    """The provider's own embedded player for a YouTube or Vimeo link (YouTube's no-cookie
    host); None for anything else or an id that is not one."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    if host in ("youtube.com", "youtube-nocookie.com", "youtu.be"):
        found = _youtube_id(host, parts.path, parts.query)
        return f"https://www.youtube-nocookie.com/embed/{found}" if found else None
    if host in ("vimeo.com", "player.vimeo.com"):
        return _vimeo_player(parts.path, parts.query)
    return None


def _youtube_id(host: str, path: str, query: str) -> str | None:
    if host == "youtu.be":
        found = path[1:].split("/")[0]
    elif path == "/watch":
        found = (parse_qs(query).get("v") or [""])[0]
    else:
        match = _YOUTUBE_PATH.match(path)
        found = match.group(1) if match else ""
    return found if _YOUTUBE_ID.fullmatch(found) else None


def _vimeo_player(path: str, query: str) -> str | None:
    match = _VIMEO_PATH.match(path)
    if match is None:
        return None
    video, private = match.groups()  # an unlisted video's link carries its hash
    private = private or (parse_qs(query).get("h") or [""])[0]
    suffix = f"?h={private}" if re.fullmatch(r"[0-9a-f]{6,}", private) else ""
    return f"https://player.vimeo.com/video/{video}{suffix}"
