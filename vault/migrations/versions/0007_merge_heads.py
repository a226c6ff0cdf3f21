"""merge the four heads

Revision ID: 0007_merge_heads
Revises: 0002_grants, 0003_custody, 0005_local_accounts, 0006_audit_person_time
Create Date: 2026-12-01 21:01:17.116517

The four revisions made in parallel off ``0001`` join here, so the history has one
head again and a new revision has a single parent.
"""

from __future__ import annotations

revision = "0007_merge_heads"
down_revision = ("0002_grants", "0003_custody", "0005_local_accounts", "0006_audit_person_time")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
