"""Shared fixtures: settings in a temp folder, a database per test (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from intake.config import load_settings
from intake.context import build_context
from store.migrate import upgrade

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "email-public"
PG_ADMIN = os.environ.get("INTAKE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".tsv", ".md"))


async def pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_reachable() -> str | None:
    try:
        asyncio.run(pg_admin("SELECT 1"))
    except Exception as exc:  # any failure means: skip the PostgreSQL half, saying why
        return f"PostgreSQL not reachable at {PG_ADMIN}: {type(exc).__name__}: {exc}"
    return None


_PG_PROBLEM: list[str | None] = []


def pg_problem() -> str | None:
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(_pg_reachable())
    return _PG_PROBLEM[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database of each kind; PostgreSQL gets its own database per test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"
        return
    problem = pg_problem()
    if problem:
        pytest.skip(problem)
    name = f"intake_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"


def make_settings(tmp_path: Path, database_url: str, **overrides):
    values = {"data_dir": tmp_path / "data", "database_url": database_url, "smtp_port": 0,
              "web_port": 0}
    values.update(overrides)
    return load_settings({}, **values)


@pytest.fixture
def settings(tmp_path, database_url):
    return make_settings(tmp_path, database_url)


@pytest.fixture
async def ctx(settings):
    context = build_context(settings)
    await upgrade(context.db)
    yield context
    await context.close()
