"""resumable uploads (tus) and the private upload links bound to a brief

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

An upload's offset is written here only after its bytes are fsync'd, so a restarted
server answers HEAD with an offset it can stand by. A link row is what a signed token
names: revoking it (revoked_at) ends the token before its expiry.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_links",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("brief_id", sa.Integer(), sa.ForeignKey("briefs.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("filetype", sa.String(200), nullable=True),
        sa.Column("brief_id", sa.Integer(), sa.ForeignKey("briefs.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("link_id", sa.String(32), sa.ForeignKey("upload_links.id"), nullable=True),
        sa.Column("code", sa.String(32), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_uploads_status_expires", "uploads", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_uploads_status_expires", table_name="uploads")
    op.drop_table("uploads")
    op.drop_table("upload_links")
