"""merge the heads of the "trustworthy and operable" work

Revision ID: 0018_merge_heads
Revises: 0017a_audit_evidence, 0017b_vault_settings, 0017c_appraisal, 0017d_checks,
    0017e_blobs_outbox

The revisions made in parallel off ``0016`` (audit evidence, the vault's settings,
retention and disposal, the four-properties check, the outbox and shared blobs) join here,
so the history has one head again.
"""

from __future__ import annotations

revision = "0018_merge_heads"
down_revision = (
    "0017a_audit_evidence",
    "0017b_vault_settings",
    "0017c_appraisal",
    "0017d_checks",
    "0017e_blobs_outbox",
)
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
