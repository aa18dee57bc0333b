"""Who is asking: session cookies and bearer tokens, sign-in and sign-out, role checks."""

from __future__ import annotations

import math
from urllib.parse import quote

from aiohttp import web

from intake.review.users import Principal, authenticate, by_id, by_token, end_sessions
from intake.web.render import render
from intake.web.security import COOKIE, Session, is_https, set_cookie
from intake.web.state import CONTEXT, SESSION, SIGNER, SIGNIN_LIMIT, USER, VIA
from intake.web.text import t

routes = web.RouteTableDef()
PUBLIC = ("/healthz", "/metrics", "/signin", "/static/", "/u/", "/upload", "/tus/")  # + issue 14


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def session_middleware(request: web.Request, handler):  # noqa: ANN001, ANN201
    """Load the signed cookie (or start an anonymous session); send it back when it changed."""
    signer = request.app[SIGNER]
    session = signer.load(request.cookies.get(COOKIE))
    if session is None:
        session = Session(dirty=COOKIE in request.cookies)  # a forged or stale one is replaced
    request[SESSION] = session
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _send(request, exc)
        raise
    _send(request, response)
    return response


def _send(request: web.Request, response: web.StreamResponse) -> None:
    session: Session = request[SESSION]
    if session.dirty and not response.prepared:
        secure = is_https(request, request.app[CONTEXT].settings)
        set_cookie(response, request.app[SIGNER], session, secure)


async def _principal(request: web.Request) -> tuple[Principal | None, str | None]:
    ctx = request.app[CONTEXT]
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return await by_token(ctx, header[7:].strip()), "token"
    session: Session = request[SESSION]
    if session.user_id is None:
        return None, None
    user = await by_id(ctx, session.user_id)
    if user is None or user.session_version != session.version:
        return None, None  # signed out everywhere, disabled, or rights changed since
    return user, "session"


@web.middleware
async def auth_middleware(request: web.Request, handler):  # noqa: ANN001, ANN201
    """Nothing but /healthz, /metrics, /signin and static files without signing in."""
    if not request.path.startswith(PUBLIC):
        user, via = await _principal(request)
        if user is None:
            if _is_api(request) or via == "token":
                raise web.HTTPUnauthorized(text=t("error.unauthorised"),
                                           headers={"WWW-Authenticate": "Bearer"})
            raise web.HTTPSeeOther(f"/signin?next={quote(request.path_qs, safe='')}")
        request[USER], request[VIA] = user, via
    return await handler(request)


def require_reviewer(request: web.Request) -> Principal:
    user: Principal = request[USER]
    if not user.can_review:
        raise web.HTTPForbidden(text=t("error.viewer"))
    return user


def require_admin(request: web.Request) -> Principal:
    user: Principal = request[USER]
    if not user.is_admin:
        raise web.HTTPForbidden(text=t("error.admin_only"))
    return user


def _next(target: str) -> str:
    # Only a local path: never let ?next= send someone to another site.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@routes.get("/signin")
async def signin_page(request: web.Request) -> web.Response:
    request[SESSION].dirty = True  # the form's CSRF token needs the cookie's nonce
    return render(request, "signin.html", next=_next(request.query.get("next", "/")))


@routes.post("/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    target = _next(str(form.get("next", "/")))
    guard, address = request.app[SIGNIN_LIMIT], request.remote or "-"
    wait = guard.retry_after(name, address)
    if wait:
        response = render(request, "signin.html", status=429, next=target,
                          error=t("signin.too_many", minutes=math.ceil(wait / 60)))
        response.headers["Retry-After"] = str(wait)
        return response
    user = await authenticate(request.app[CONTEXT], name, password)
    if user is None:
        guard.fail(name, address)
        return render(request, "signin.html", status=401, next=target,
                      error=t("signin.failed"))
    guard.succeed(name)
    # A fresh nonce on sign-in: a session fixed before sign-in is worth nothing after it.
    request[SESSION] = Session(user_id=user.id, version=user.session_version, dirty=True)
    raise web.HTTPSeeOther(target)


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    user: Principal = request[USER]
    await end_sessions(request.app[CONTEXT], user.id)  # a copied cookie dies with this one
    request[SESSION] = Session(dirty=True)
    raise web.HTTPSeeOther("/signin")
