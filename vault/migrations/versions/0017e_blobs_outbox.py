"""attachment blobs in the database (PostgreSQL's blob store), the notification outbox,
and when the worker noted a grant's end

Revision ID: 0017e_blobs_outbox
Revises: 0016_alert_params
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vault.db

_UTC = vault.db.UTCDateTime(timezone=True)

revision = "0017e_blobs_outbox"
down_revision = "0016_alert_params"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_segments",
        sa.Column("blob_key", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("notification_id", sa.Integer(), sa.ForeignKey("notifications.id")),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("next_attempt_at", _UTC, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", _UTC, nullable=True),
        sa.Column("failed_at", _UTC, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=False),
    )
    op.create_index("ix_outbox_due", "outbox_messages", ["sent_at", "next_attempt_at"])
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("ended_at", _UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("ended_at")
    op.drop_index("ix_outbox_due", table_name="outbox_messages")
    op.drop_table("outbox_messages")
    op.drop_table("blob_segments")
