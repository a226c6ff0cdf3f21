"""the vault's own settings (the algorithm suite chosen at init) live in its database

Revision ID: 0017b_vault_settings
Revises: 0016_alert_params

An existing vault has no row: it keeps the standard suite (AES-256-GCM, HMAC-SHA-256).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017b_vault_settings"
down_revision = "0016_alert_params"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vault_settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_vault_settings")),
    )


def downgrade() -> None:
    op.drop_table("vault_settings")
