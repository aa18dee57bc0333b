"""Where a link may lead: http(s) only, public addresses only, checked at every hop and pinned
(the resolver that checked an address is the one whose answer the connection uses)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from intake.links.errors import FetchFailed

SCHEMES = ("http", "https")


def address_allowed(address: str) -> bool:
    """A public unicast address: not loopback, private, link-local, multicast or reserved."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allow_private: bool) -> None:
    """Before each request (the first and every redirect): scheme, and a host we may reach
    as far as the URL alone tells (an address written in it, a .localhost name)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise FetchFailed("refused", f"only http and https links are fetched, not {url[:80]!r}")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise FetchFailed("refused", f"no host in {url[:80]!r}")
    if parts.username or parts.password:
        raise FetchFailed("refused", "a link carrying a user name or password is not fetched")
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise FetchFailed("refused", f"{host} is this machine")
    literal = _written_address(host)
    if literal is not None and not address_allowed(literal):
        raise FetchFailed("refused", f"{host} is not a public address")


def _written_address(host: str) -> str | None:
    """The address a host written as one stands for, including the legacy forms a resolver
    (or a proxy's) accepts: "2130706433", "127.1", "0x7f.0.0.1" are all 127.0.0.1."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None  # a name: the resolver checks what it resolves to


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default, then drops every address we may not connect to.
    aiohttp connects to the addresses returned here, so there is no second lookup for an
    attacker's DNS to answer differently. Hosts in `trusted` (the egress proxy) pass."""

    def __init__(self, allow_private: bool, trusted: frozenset[str] = frozenset()) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private
        self._trusted = trusted

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow_private or host.lower() in self._trusted:
            return results
        allowed = [r for r in results if address_allowed(r["host"])]
        if not allowed:
            raise FetchFailed("refused", f"{host} resolves to no public address")
        return allowed

    async def close(self) -> None:
        await self._inner.close()
