"""Web security: the signing key, signed session cookies, CSRF and Origin checks, headers,
and the sign-in rate limit."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from intake.config import Settings

COOKIE = "intake_session"
SESSION_SECONDS = 12 * 3600
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'; frame-src https://www.youtube-nocookie.com https://player.vimeo.com"
)
# User content: even if a browser renders it, it runs nothing and reaches nothing.
MEDIA_CSP = (
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
)


MIN_SECRET = 16


def load_secret(settings: Settings) -> bytes:
    """INTAKE_WEB_SECRET, else a key generated once into data_dir/web-secret (mode 0600)."""
    configured = settings.web_secret.get_secret_value()
    if configured:
        if len(configured) < MIN_SECRET:
            raise ValueError(f"INTAKE_WEB_SECRET must be at least {MIN_SECRET} characters")
        return configured.encode()
    path = Path(settings.data_dir) / "web-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _create_secret(path)
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < MIN_SECRET:
        raise ValueError(f"{path} holds no usable key; delete it to have a new one made")
    return secret.encode()


def _create_secret(path: Path) -> None:
    # Written whole to a private temp file, then linked into place: a crash never leaves
    # an empty key, and of two processes starting at once the first one's key wins.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".web-secret-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(name, path)
    finally:
        os.unlink(name)


# -- signed session cookies ----------------------------------------------------------------


@dataclass
class Session:
    """What the cookie carries: a random nonce (the CSRF token's seed), and once signed in,
    the user id and the session version it was issued at."""

    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    user_id: int | None = None
    version: int = 0
    issued: int = field(default_factory=lambda: int(time.time()))
    dirty: bool = False  # must be (re)sent to the browser


class Signer:
    """HMAC-SHA256 over the cookie payload; the key never leaves the server."""

    def __init__(self, key: bytes) -> None:
        self.key = hashlib.sha256(b"intake-session|" + key).digest()
        self.csrf_key = hashlib.sha256(b"intake-csrf|" + key).digest()

    def _mac(self, payload: bytes) -> str:
        return hmac.new(self.key, payload, hashlib.sha256).hexdigest()

    def dump(self, session: Session) -> str:
        data = {"n": session.nonce, "u": session.user_id, "v": session.version,
                "t": session.issued}
        payload = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(payload.encode())}"

    def load(self, value: str | None) -> Session | None:
        """The session in a cookie, or None when it is missing, forged or too old."""
        if not value or "." not in value:
            return None
        payload, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(payload.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(str(data["n"]), data["u"], int(data["v"]), int(data["t"]))
        except (ValueError, KeyError, TypeError):
            return None
        if time.time() - session.issued > SESSION_SECONDS:
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self.csrf_key, session.nonce.encode(), hashlib.sha256).hexdigest()


def is_https(request: web.Request, settings: Settings) -> bool:
    return request.secure or settings.web_base_url.startswith("https://")


def set_cookie(response: web.StreamResponse, signer: Signer, session: Session,
               secure: bool) -> None:
    response.set_cookie(COOKIE, signer.dump(session), max_age=SESSION_SECONDS, path="/",
                        httponly=True, samesite="Lax", secure=secure)


# -- CSRF and Origin -----------------------------------------------------------------------


def allowed_origins(request: web.Request, settings: Settings) -> set[str]:
    origins = {f"{request.scheme}://{request.host}"}
    if settings.web_base_url:
        parts = urlsplit(settings.web_base_url)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins


def origin_ok(request: web.Request, settings: Settings) -> bool:
    """An unsafe request must come from our own pages: Origin (or, failing that, Referer)
    must name this site. Browsers send Origin on every POST; "null" is never ours."""
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return True  # no browser left both out; the CSRF token still has to match
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin in allowed_origins(request, settings)


async def submitted_token(request: web.Request) -> str:
    """The CSRF token from the header, the form, or (multipart uploads, which are streamed
    and so cannot be read here) the query string."""
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        return str(form.get(CSRF_FIELD, ""))
    if request.content_type == "multipart/form-data":
        return request.query.get(CSRF_FIELD, "")
    return ""


# -- headers -------------------------------------------------------------------------------


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, 404s and errors included, gets these."""
    media = request.path.startswith("/media/")
    headers = response.headers
    headers["Content-Security-Policy"] = MEDIA_CSP if media else PAGE_CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on POST.
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers.setdefault("Cache-Control", "private, max-age=3600" if media or
                       request.path.startswith("/static/") else "no-store")
    if request.secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"


# -- sign-in rate limit --------------------------------------------------------------------


class RateLimiter:
    """At most `limit` failed sign-ins per key (user name, client address) per window."""

    def __init__(self, limit: int, window: float, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self.failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self.failures.get(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def retry_after(self, key: str) -> int:
        """Seconds until `key` may try again; 0 when it may now."""
        now = time.monotonic()
        times = self._recent(key, now)
        if len(times) < self.limit:
            return 0
        # Rounded up, but not past the window: 15 minutes, not 16, right after a failure.
        return max(1, math.ceil(self.window - (now - times[0])))

    def fail(self, key: str) -> None:
        now = time.monotonic()
        if len(self.failures) >= self.max_keys:  # bounded memory under a spray of names
            self.failures = {k: v for k, v in self.failures.items() if self._recent(k, now)}
            if len(self.failures) >= self.max_keys:
                self.failures.pop(next(iter(self.failures)))
        self.failures.setdefault(key, deque()).append(now)

    def clear(self, key: str) -> None:
        self.failures.pop(key, None)


class SignInGuard:
    """Failed sign-ins are limited per user name (guessing one password) and, more loosely,
    per client address (trying many names from one place)."""

    def __init__(self, per_name: int = 5, per_address: int = 20, window: float = 900) -> None:
        self.names = RateLimiter(per_name, window)
        self.addresses = RateLimiter(per_address, window)

    def retry_after(self, name: str, address: str) -> int:
        return max(self.names.retry_after(name.casefold()), self.addresses.retry_after(address))

    def fail(self, name: str, address: str) -> None:
        self.names.fail(name.casefold())
        self.addresses.fail(address)

    def succeed(self, name: str) -> None:
        self.names.clear(name.casefold())
