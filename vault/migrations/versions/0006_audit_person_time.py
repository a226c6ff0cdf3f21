"""audit events: index on (actor, time) for the export guard's quota windows

Revision ID: 0006_audit_person_time
Revises: 0001

Each content decision counts the records its person opened in the last hour and day;
with this index that reads the person's events of the day alone, however long the log.
"""

from __future__ import annotations

from alembic import op

revision = "0006_audit_person_time"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_events_person_time", "audit_events", ["actor_person_id", "time"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_person_time", table_name="audit_events")
