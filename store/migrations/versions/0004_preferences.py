"""preferences: choices the review app remembers, e.g. the survey import's columns

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

A coordinator who picks the title, email and response-id columns of a survey export on the
import page finds them picked again for the next file (issue 12).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preferences")),
        sa.UniqueConstraint("name", name=op.f("uq_preferences_name")),
    )


def downgrade() -> None:
    op.drop_table("preferences")
