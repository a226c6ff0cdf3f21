"""notifications keep their message and values, so pages show them in the reader's language

Revision ID: 0015_notification_params
Revises: 0014_merge_heads

Rows from before keep ``params`` NULL: their stored English subject and body are shown.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_notification_params"
down_revision = "0014_merge_heads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("params")
