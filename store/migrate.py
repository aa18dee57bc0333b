"""Apply Alembic migrations from inside the running event loop, on intake's own engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from store.db import Database
from store.locks import MIGRATION_LOCK, xact_lock

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection=None) -> Config:  # noqa: ANN001 - a sync Connection
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to call at every start."""
    async with db.write.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several processes start at once (compose): one migrates, the others wait for
            # its commit and then find nothing to do, instead of racing on CREATE TABLE.
            await xact_lock(conn, MIGRATION_LOCK)
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


async def downgrade(db: Database, revision: str = "base") -> None:
    async with db.write.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), revision))


async def current_revision(db: Database) -> str | None:
    async with db.read.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
