"""merge the heads of the "no insider alone" work

Revision ID: 0014_merge_heads
Revises: 0010_sessions, 0013_site_policies

The revisions made in parallel off ``0008`` (proposals and site policies, server-side
sessions) join here, so the history has one head again.
"""

from __future__ import annotations

revision = "0014_merge_heads"
down_revision = ("0010_sessions", "0013_site_policies")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
