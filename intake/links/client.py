"""The HTTP client of link fetching: guarded resolver, the environment's proxy and CA file, no
cookies, no decompression, and redirects followed by hand so each hop is checked."""

from __future__ import annotations

import os
import ssl
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp

from intake.links.errors import FetchFailed
from intake.links.guard import GuardedResolver, check_url
from parsers.providers import Request

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
READ_BUFFER = 4 << 20  # bytes aiohttp buffers before it stops reading the socket
USER_AGENT = "intake-link-fetcher/1 (+a coordinator's archive of submitted videos)"


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    connect_timeout: float
    read_timeout: float
    allow_private: bool


def _proxies() -> dict[str, str]:
    """HTTP(S)_PROXY as the environment sets them (urllib reads both cases)."""
    return {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}


def proxy_for(url: str) -> str | None:
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):  # NO_PROXY
        return None
    return _proxies().get(parts.scheme)


def ssl_context() -> ssl.SSLContext:
    # SSL_CERT_FILE (and SSL_CERT_DIR) are read by OpenSSL's default paths; naming the file
    # as well makes it hold whatever OpenSSL build Python links.
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)


def open_session(limits: Limits) -> aiohttp.ClientSession:
    """One session per fetcher: pooled connections, and nothing a page could leave behind."""
    proxy_hosts = frozenset((urlsplit(p).hostname or "").lower() for p in _proxies().values())
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(limits.allow_private, proxy_hosts),
        ssl=ssl_context(), use_dns_cache=False, limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=limits.connect_timeout,
                                    sock_read=limits.read_timeout)
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False, trust_env=False,  # trust_env would also read ~/.netrc
        read_bufsize=READ_BUFFER,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})


async def _send(session: aiohttp.ClientSession, request: Request, extra: dict,
                ) -> aiohttp.ClientResponse:
    headers = {**request.headers, **extra}
    try:
        return await session.request(
            request.method, request.url, json=request.json, headers=headers,
            allow_redirects=False, proxy=proxy_for(request.url))
    except aiohttp.InvalidURL as exc:
        raise FetchFailed("not_found", f"not a URL: {exc}") from None


def _next_hop(request: Request, response: aiohttp.ClientResponse) -> Request:
    location = response.headers.get("Location", "")
    if not location:
        raise FetchFailed("provider_error", f"a redirect without a Location from {request.url}")
    target = urljoin(str(response.url), location)
    # 303 (and, as browsers do, 301/302 after a POST) turn the request into a plain GET;
    # headers we added for one host (none carry credentials) are not carried to another.
    if response.status == 303 or (request.method == "POST" and response.status in (301, 302)):
        return Request(target)
    same_host = urlsplit(target).hostname == urlsplit(request.url).hostname
    return Request(target, request.method, request.json, request.headers if same_host else {})


async def open_url(session: aiohttp.ClientSession, request: Request, limits: Limits,
                   extra: dict | None = None) -> aiohttp.ClientResponse:
    """The response at the end of at most MAX_REDIRECTS redirects, each hop checked."""
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(request.url, limits.allow_private)
        response = await _send(session, request, extra or {})
        if response.status not in REDIRECTS:
            return response
        response.release()
        request = _next_hop(request, response)
    raise FetchFailed("refused", f"more than {MAX_REDIRECTS} redirects")
