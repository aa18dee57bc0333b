"""briefs.search_text: the brief's words, normalised as matching normalises them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

The review app's brief search finds "Vacunación" from "vacunacion" and "diabetes" from
"diabet" on both databases with one portable LIKE on word starts. intake fills the column
(store does not import parsers): on every insert and update of a brief, and for rows
still empty when the web app starts.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("briefs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("briefs", schema=None) as batch_op:
        batch_op.drop_column("search_text")
