"""Review-app users: create, authenticate (argon2 passwords, API tokens), change, audit."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from intake.context import Context
from store.models import User
from store.queries import add_event
from store.web_queries import admin_count, all_users, user_by_name, user_by_token_hash

ROLES = ("admin", "coordinator", "viewer")
# What each role may do; a role's rights include those of the roles after it.
CAN_REVIEW = ("admin", "coordinator")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MIN_PASSWORD = 10
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so timing does not reveal valid names.
_DUMMY_HASH = _HASHER.hash("not a real password, only here for timing")


class UserError(Exception):
    """A user change that cannot be made; the message says why, for a person."""


@dataclass(frozen=True)
class Principal:
    """Who is making a request: enough to authorise it and to name them in the audit log."""

    id: int
    name: str
    role: str
    session_version: int

    @property
    def can_review(self) -> bool:
        return self.role in CAN_REVIEW

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def principal(user: User) -> Principal:
    return Principal(user.id, user.name, user.role, user.session_version)


def token_hash(token: str) -> str:
    # API tokens are 256 random bits: a fast hash is enough, and lets us look them up.
    return hashlib.sha256(token.encode()).hexdigest()


def _check(name: str, role: str, password: str | None) -> None:
    if not NAME.match(name):
        raise UserError("a user name is 1-100 letters, digits, '.', '_', '@' or '-'")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")


async def _hash(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def add_user(ctx: Context, name: str, role: str, password: str, actor: str) -> Principal:
    _check(name, role, password)
    hashed = await _hash(password)
    async with ctx.db.writer()() as session, session.begin():
        if await user_by_name(session, name) is not None:
            raise UserError(f"user {name!r} exists already")
        user = User(name=name, role=role, password_hash=hashed, session_version=1,
                    disabled=False)
        session.add(user)
        await session.flush()
        add_event(session, actor, "user_add", user=name, role=role)
        return principal(user)


async def authenticate(ctx: Context, name: str, password: str) -> Principal | None:
    """The user for a name and password, or None; argon2 runs off the event loop."""
    async with ctx.db.reader()() as session:
        user = await user_by_name(session, name)
    stored = user.password_hash if user is not None and not user.disabled else _DUMMY_HASH
    try:
        await asyncio.to_thread(_HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    return principal(user)


async def by_token(ctx: Context, token: str) -> Principal | None:
    async with ctx.db.reader()() as session:
        user = await user_by_token_hash(session, token_hash(token))
    return None if user is None or user.disabled else principal(user)


async def by_id(ctx: Context, user_id: int) -> Principal | None:
    async with ctx.db.reader()() as session:
        user = await session.get(User, user_id)
    return None if user is None or user.disabled else principal(user)


async def new_token(ctx: Context, name: str, actor: str) -> str:
    """A new API token for the user (the old one stops working); shown once, kept hashed."""
    token = secrets.token_urlsafe(32)
    async with ctx.db.writer()() as session, session.begin():
        user = await _get(session, name)
        user.token_hash = token_hash(token)
        add_event(session, actor, "user_token", user=name)
    return token


async def _get(session, name: str) -> User:  # noqa: ANN001
    user = await user_by_name(session, name)
    if user is None:
        raise UserError(f"no user {name!r}")
    return user


async def change(
    ctx: Context, name: str, actor: str, *, role: str | None = None,
    password: str | None = None, disabled: bool | None = None,
) -> None:
    """Change a user's role, password or disabled state; ends their sessions when it matters."""
    _check(name, role or "viewer", password)
    hashed = await _hash(password) if password else None
    async with ctx.db.writer()() as session, session.begin():
        user = await _get(session, name)
        if user.role == "admin" and (role not in (None, "admin") or disabled) and (
            await admin_count(session) <= 1
        ):
            raise UserError("the last admin cannot be demoted or disabled")
        changed = _apply(user, role, hashed, disabled)
        if changed:
            user.session_version += 1  # signed-in sessions of the old rights end here
            add_event(session, actor, "user_change", user=name, **changed)


def _apply(user: User, role: str | None, hashed: str | None, disabled: bool | None) -> dict:
    """Set what differs on the user; what changed, for the audit event (never the hash)."""
    changed: dict = {}
    if role and role != user.role:
        user.role = changed["role"] = role
    if hashed:
        user.password_hash, changed["password"] = hashed, "changed"
    if disabled is not None and disabled != user.disabled:
        user.disabled = changed["disabled"] = disabled
    return changed


async def end_sessions(ctx: Context, user_id: int) -> None:
    """Sign a user out everywhere: every session cookie carries the version it was made at."""
    async with ctx.db.writer()() as session, session.begin():
        user = await session.get(User, user_id)
        if user is not None:
            user.session_version += 1


async def users_list(ctx: Context) -> list[dict]:
    async with ctx.db.reader()() as session:
        return [
            {"name": u.name, "role": u.role, "disabled": u.disabled,
             "has_token": bool(u.token_hash), "created_at": u.created_at.isoformat()}
            for u in await all_users(session)
        ]
