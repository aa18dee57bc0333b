"""Address checks: the resolver refuses what a name resolves to, URLs their written address."""

import pytest

from intake.links.errors import FetchFailed
from intake.links.guard import GuardedResolver, address_allowed, check_url


@pytest.mark.parametrize(("address", "allowed"), [
    ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.0.1", False), ("172.16.5.5", False),
    ("169.254.169.254", False), ("224.0.0.1", False), ("0.0.0.0", False), ("::1", False),
    ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False), ("100.64.0.1", False),
    ("93.184.216.34", True), ("2606:4700::1111", True),
])
def test_address_allowed(address, allowed):
    assert address_allowed(address) is allowed


async def test_a_name_resolving_to_loopback_is_refused_by_the_resolver():
    resolver = GuardedResolver(allow_private=False)
    with pytest.raises(FetchFailed) as caught:
        await resolver.resolve("localhost", 443)  # /etc/hosts: 127.0.0.1, ::1
    assert caught.value.reason == "refused"
    allowed = GuardedResolver(allow_private=True)
    assert {r["host"] for r in await allowed.resolve("localhost", 443)} & {"127.0.0.1", "::1"}
    trusted = GuardedResolver(allow_private=False, trusted=frozenset({"localhost"}))
    assert await trusted.resolve("localhost", 443)  # the egress proxy itself
    for r in (resolver, allowed, trusted):
        await r.close()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://x.example/", "https://u:p@x.example/a",
                                 "http://[::1]/", "http://2130706433/", "https://a.localhost/"])
def test_urls_refused_before_any_request(url):
    with pytest.raises(FetchFailed):
        check_url(url, allow_private=False)
