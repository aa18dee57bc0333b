"""small raw items kept in their row until the worker moves them to the blob store

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

accept commits the raw bytes of a small item (a Telegram update, a short email) in the
item's row: one commit makes a whole batch durable, where a blob each cost an fsync each.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_inline", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Move any inline bytes to the blob store (run the worker) before going down.
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("raw_inline")
