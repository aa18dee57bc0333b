"""items: the brief and Message-ID indexes hold only rows that have one; the sender index goes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

Every item is inserted without a brief and, but for email, without a Message-ID; an entry
for each NULL cost every insert a b-tree write and a page more to commit, for lookups that
only ever ask for a value (`brief_id = ?`, `message_id IN (...)`), which a partial index
answers. No query reads items by sender (matching reads the briefs' addresses).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _not_null(column: str) -> dict:
    where = sa.text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_sender")
        batch_op.drop_index("ix_items_brief_id")
        batch_op.drop_index("ix_items_message_id")
        batch_op.create_index("ix_items_brief_id", ["brief_id"], **_not_null("brief_id"))
        batch_op.create_index("ix_items_message_id", ["message_id"], **_not_null("message_id"))


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_message_id")
        batch_op.drop_index("ix_items_brief_id")
        batch_op.create_index("ix_items_message_id", ["message_id"])
        batch_op.create_index("ix_items_brief_id", ["brief_id"])
        batch_op.create_index("ix_items_sender", ["sender"])
