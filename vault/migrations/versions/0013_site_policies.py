"""site policies loaded through the two-person rule

Revision ID: 0013_site_policies
Revises: 0009_proposals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vault.db

revision = "0013_site_policies"
down_revision = "0009_proposals"
branch_labels = None
depends_on = None

_UTC = vault.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "site_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=False),
        sa.Column("loaded_at", _UTC, nullable=False),
        sa.Column("replaced_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"], ["people.id"], name=op.f("fk_site_policies_proposed_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by_id"], ["people.id"], name=op.f("fk_site_policies_approved_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_policies")),
    )
    op.create_index(
        op.f("ix_site_policies_replaced_at"), "site_policies", ["replaced_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_site_policies_replaced_at"), table_name="site_policies")
    op.drop_table("site_policies")
