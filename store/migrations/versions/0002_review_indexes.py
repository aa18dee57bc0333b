"""indexes for the review app: items by arrival time, and by status and channel

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The dashboard counts items per status and channel (all time: read from the index alone)
and since midnight (a range on received_at); the queue filters by date.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_received_at", ["received_at"], unique=False)
        batch_op.create_index("ix_items_status_channel", ["status", "channel"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_status_channel")
        batch_op.drop_index("ix_items_received_at")
