"""Security of the review app: sign-in required, cookies, CSRF and Origin, headers, roles,
rate limits, escaping, API tokens."""

import os
import stat

import pytest

from intake.review.users import new_token
from intake.web.security import COOKIE
from tests.conftest import make_settings
from tests.web.conftest import CSRF, PASSWORD, deliver


def _cookie(response):
    return response.cookies[COOKIE]


async def test_only_healthz_and_signin_are_open(client):
    assert (await client.get("/healthz")).status == 200
    for path in ("/", "/queue", "/items/1", "/briefs", "/audit", "/failed", "/users",
                 "/media/" + "0" * 64):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/signin?next=")
    api = await client.get("/api/items")
    assert api.status == 401 and (await api.json())["status"] == 401


async def test_every_response_has_the_security_headers(client):
    for path, status in (("/signin", 200), ("/no/such/page", 303), ("/healthz", 200),
                         ("/static/app.css", 200)):
        response = await client.get(path, allow_redirects=False)
        assert response.status == status, path
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    await client.signin("ada")
    missing = await client.get("/no/such/page")
    assert missing.status == 404 and "nosniff" in missing.headers["X-Content-Type-Options"]
    assert "script-src 'self'" in missing.headers["Content-Security-Policy"]


async def test_the_session_cookie_is_httponly_and_samesite_lax(client):
    response = await client.signin("ada")
    assert response.status == 303
    cookie = _cookie(response)
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # plain http on loopback


async def test_the_cookie_is_secure_when_served_over_https(tmp_path, sqlite_url, make_client):
    from intake.context import build_context
    from intake.review.users import add_user
    from store.migrate import upgrade

    ctx = build_context(make_settings(tmp_path, sqlite_url,
                                      web_base_url="https://review.example.org"))
    await upgrade(ctx.db)
    try:
        await add_user(ctx, "ada", "admin", PASSWORD, "test")
        client = await make_client(ctx)
        page = await client.get("/signin")
        assert _cookie(page)["secure"]
    finally:
        await ctx.close()


async def test_wrong_password_and_unknown_user_look_the_same(client):
    wrong = await client.signin("ada", "not the password")
    unknown = await client.signin("nobody", "not the password")
    assert wrong.status == unknown.status == 401
    assert "do not match" in await wrong.text()


async def test_signin_is_rate_limited_per_name(client):
    for _ in range(5):
        assert (await client.signin("cora", "wrong password!")).status == 401
    blocked = await client.signin("cora")  # even the right password waits now
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) > 0
    assert (await client.signin("ada")).status == 303  # another name is not blocked


async def test_a_post_without_the_csrf_token_is_refused(client):
    await client.signin("cora")
    item_id = await deliver(client_ctx(client))
    response = await client.post(f"/items/{item_id}/reject", data={"reason": "spam"},
                                 allow_redirects=False)
    assert response.status == 403
    assert "did not come from this site" in await response.text()
    wrong = await client.post(f"/items/{item_id}/reject",
                              data={"reason": "spam", "_csrf": "0" * 64})
    assert wrong.status == 403


async def test_a_post_from_another_origin_is_refused_even_with_the_token(client):
    await client.signin("cora")
    item_id = await deliver(client_ctx(client))
    response = await client.post(f"/items/{item_id}/reject",
                                 data={"reason": "spam", "_csrf": client.token},
                                 headers={"Origin": "https://evil.example"})
    assert response.status == 403
    null = await client.post(f"/items/{item_id}/reject",
                             data={"reason": "spam", "_csrf": client.token},
                             headers={"Origin": "null"})
    assert null.status == 403


async def test_signin_itself_needs_the_csrf_token(client):
    response = await client.post("/signin", data={"name": "ada", "password": PASSWORD})
    assert response.status == 403


async def test_a_forged_cookie_is_ignored(client):
    await client.signin("ada")
    jar = client.session.cookie_jar
    value = next(c.value for c in jar if c.key == COOKIE)
    payload, mac = value.rsplit(".", 1)
    jar.clear()
    jar.update_cookies({COOKIE: payload + "." + ("0" if mac[0] != "0" else "1") + mac[1:]})
    response = await client.get("/queue", allow_redirects=False)
    assert response.status == 303


async def test_signing_out_ends_a_copied_cookie_too(client):
    await client.signin("ada")
    value = next(c.value for c in client.session.cookie_jar if c.key == COOKIE)
    assert (await client.form("/signout")).status == 303
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({COOKIE: value})  # the stolen copy
    assert (await client.get("/queue", allow_redirects=False)).status == 303


async def test_the_secret_is_generated_once_with_0600(people, make_client):
    await make_client(people)
    path = people.settings.data_dir / "web-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_text()
    await make_client(people)
    assert path.read_text() == first


async def test_a_viewer_can_read_but_not_assign(client, tmp_path):
    ctx = client_ctx(client)
    item_id = await deliver(ctx)
    await client.signin("vic")
    assert (await client.get(f"/items/{item_id}")).status == 200
    response = await client.form(f"/items/{item_id}/assign", ref="HLH-AAAAA-A")
    assert response.status == 403 and "Viewers" in await response.text()
    assert (await client.get("/import")).status == 403
    assert (await client.get("/users")).status == 403


async def test_a_subject_with_markup_is_shown_as_text(client):
    ctx = client_ctx(client)
    item_id = await deliver(ctx, subject='<script>alert("x")</script><img src=x onerror=y>')
    from tests.web.conftest import process

    await process(ctx)
    await client.signin("cora")
    for path in (f"/items/{item_id}", "/queue", "/failed", "/"):
        html = await (await client.get(path)).text()
        assert '<script>alert' not in html and "<img src=x" not in html, path
    item_html = await (await client.get(f"/items/{item_id}")).text()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in item_html


async def test_bearer_tokens_work_for_the_api_without_csrf(client):
    ctx = client_ctx(client)
    item_id = await deliver(ctx)
    token = await new_token(ctx, "cora", "test")
    auth = {"Authorization": f"Bearer {token}"}
    me = await client.get("/api/me", headers=auth)
    assert await me.json() == {"name": "cora", "role": "coordinator"}
    claim = await client.post(f"/api/items/{item_id}/claim", headers=auth)
    assert claim.status == 200 and (await claim.json())["claimed"] is True
    bad = await client.get("/api/me", headers={"Authorization": "Bearer nope"})
    assert bad.status == 401
    viewer = await new_token(ctx, "vic", "test")
    refused = await client.post(f"/api/items/{item_id}/reject", json={"reason": "spam"},
                                headers={"Authorization": f"Bearer {viewer}"})
    assert refused.status == 403


async def test_a_new_token_replaces_the_old_one(client):
    ctx = client_ctx(client)
    old = await new_token(ctx, "cora", "test")
    await new_token(ctx, "cora", "test")
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {old}"})
    assert response.status == 401


async def test_next_never_leaves_the_site(client):
    page = await client.get("/signin")
    client.token = (await page.text()).split('name="_csrf" value="')[1].split('"')[0]
    response = await client.post("/signin", data={
        "_csrf": client.token, "name": "ada", "password": PASSWORD,
        "next": "//evil.example/"}, allow_redirects=False)
    assert response.headers["Location"] == "/"


def client_ctx(client):
    from intake.web import CONTEXT

    return client.server.app[CONTEXT]


def test_a_configured_secret_is_used_and_a_short_one_refused(tmp_path, sqlite_url):
    from intake.web.security import load_secret

    settings = make_settings(tmp_path, sqlite_url, web_secret="k" * 32)
    assert load_secret(settings) == b"k" * 32
    assert not (settings.data_dir / "web-secret").exists()
    with pytest.raises(ValueError, match="at least 16"):
        load_secret(make_settings(tmp_path, sqlite_url, web_secret="short"))


async def _attempt(client, name, address, password="wrong password!", **headers):
    """A sign-in through the proxy for a client at `address`."""
    headers = {"X-Forwarded-For": address, **headers}
    page = await client.client.get("/signin", headers=headers)
    token = CSRF.search(await page.text()).group(1)
    return await client.client.post("/signin", headers=headers, allow_redirects=False, data={
        "_csrf": token, "name": name, "password": password, "next": "/"})


async def test_behind_a_trusted_proxy_limits_count_the_forwarded_client(
        tmp_path, sqlite_url, make_client):
    from intake.context import build_context
    from intake.review.users import add_user
    from store.migrate import upgrade

    ctx = build_context(make_settings(tmp_path, sqlite_url, web_trusted_proxies="127.0.0.1"))
    await upgrade(ctx.db)
    try:
        await add_user(ctx, "ada", "admin", PASSWORD, "test")
        client = await make_client(ctx)
        for n in range(20):  # many names guessed from one place
            assert (await _attempt(client, f"guess{n}", "203.0.113.7")).status == 401
        assert (await _attempt(client, "guess20", "203.0.113.7")).status == 429
        # Everyone else comes through the same proxy and is not locked out with it.
        assert (await _attempt(client, "ada", "198.51.100.4", PASSWORD)).status == 303
        page = await client.client.get("/signin", headers={
            "X-Forwarded-For": "198.51.100.4", "X-Forwarded-Proto": "https"})
        assert _cookie(page)["secure"]  # the proxy speaks HTTPS to the browser
        assert (await client.client.get("/healthz")).status == 200  # probes need no proxy
    finally:
        await ctx.close()


async def test_without_a_trusted_proxy_forwarded_headers_are_not_believed(client):
    for n in range(20):  # a client inventing addresses still counts as itself
        assert (await _attempt(client, f"guess{n}", f"203.0.113.{n}")).status == 401
    assert (await _attempt(client, "ada", "198.51.100.4", PASSWORD)).status == 429


def test_a_trusted_proxy_must_be_an_address_or_network(tmp_path, sqlite_url):
    from intake.config import ConfigError

    with pytest.raises(ConfigError, match="INTAKE_WEB_TRUSTED_PROXIES.*proxy.example"):
        make_settings(tmp_path, sqlite_url, web_trusted_proxies="10.0.0.0/8, proxy.example")
    assert make_settings(tmp_path, sqlite_url, web_trusted_proxies="10.0.0.0/8, ::1") \
        .web_trusted_proxies == ["10.0.0.0/8", "::1"]
