"""One place turns errors into responses: an HTML page, or JSON under /api/."""

from __future__ import annotations

import logging

from aiohttp import web

from intake.review.actions import Conflict, NotFound, ReviewError
from intake.review.users import UserError
from intake.web.render import render
from intake.web.text import t

log = logging.getLogger(__name__)
KEEP_HEADERS = ("Retry-After", "WWW-Authenticate", "Allow", "Location", "Content-Range")


def review_status(exc: ReviewError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    return 400


def _message(exc: web.HTTPException) -> str:
    # aiohttp's default text is "404: Not Found"; ours is a sentence from text.py.
    text = exc.text or ""
    return exc.reason if text.startswith(f"{exc.status}:") else text


def error_response(request: web.Request, status: int, message: str,
                   headers: dict | None = None) -> web.Response:
    if request.path.startswith("/api/"):
        response = web.json_response({"error": message, "status": status}, status=status)
    else:
        response = render(request, "error.html", status=status, message=message,
                          title=t(f"error.title.{status}", default=t("error.title")))
    response.headers.update(headers or {})
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler):  # noqa: ANN001, ANN201
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: exc.headers[k] for k in KEEP_HEADERS if k in exc.headers}
        return error_response(request, exc.status, _message(exc), headers)
    except (ReviewError, UserError) as exc:
        status = review_status(exc) if isinstance(exc, ReviewError) else 400
        return error_response(request, status, str(exc))
    except Exception:  # a bug: log it whole, show a plain page, keep the server up
        log.exception("%s %s failed", request.method, request.path)
        return error_response(request, 500, t("error.internal"))
