"""alerts keep their summary's values, so pages show it in the reader's language

Revision ID: 0016_alert_params
Revises: 0015_notification_params

Rows from before keep ``params`` NULL: their stored English summary is shown.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_alert_params"
down_revision = "0015_notification_params"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("params")
