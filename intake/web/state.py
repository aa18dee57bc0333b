"""Typed keys for what the web app keeps on the aiohttp Application."""

from __future__ import annotations

import jinja2
from aiohttp import web

from intake.context import Context
from intake.review.users import Principal
from intake.web.security import Session, Signer, SignInGuard

CONTEXT = web.AppKey("context", Context)
SIGNER = web.AppKey("signer", Signer)
SIGNIN_LIMIT = web.AppKey("signin_limit", SignInGuard)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
# The Processor (intake.pipeline.worker) for reprocess and re-match, created on first use: the
# app's state is frozen once it starts, so it lives in a slot set up before then.
PROCESSOR = web.AppKey("processor", dict)

# What the middlewares learn about a request.
SESSION = web.RequestKey("session", Session)
USER = web.RequestKey("user", Principal)
VIA = web.RequestKey("via", str)  # "session" or "token"
