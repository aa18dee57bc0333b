"""link fetches: the queue that turns each shared-file link medium into stored bytes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

One row per link medium (issue #13): pending, fetched or failed with a reason a
coordinator understands; attempts and the next try for the back-off; a lease (worker,
worker_until) so several workers never fetch the same link; once fetched, the file's
medium, its size and when.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_fetches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("worker_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("file_media_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"],
                                name=op.f("fk_link_fetches_media_id_media")),
        sa.ForeignKeyConstraint(["file_media_id"], ["media.id"],
                                name=op.f("fk_link_fetches_file_media_id_media")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_fetches")),
        sa.UniqueConstraint("media_id", name=op.f("uq_link_fetches_media_id")),
    )
    op.create_index("ix_link_fetches_status_next", "link_fetches",
                    ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_link_fetches_status_next", table_name="link_fetches")
    op.drop_table("link_fetches")
