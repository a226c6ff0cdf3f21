"""grants: access requests, approvals, grants, alerts, notifications

Revision ID: 0002_grants
Revises: 0001
Create Date: 2026-11-28 04:32:13.758762
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vault.db

revision = "0002_grants"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("created_at", vault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", vault.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cleared_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cleared_by_id"], ["people.id"], name=op.f("fk_alerts_cleared_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_alerts_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_person_id"), ["person_id"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=200), nullable=False),
        sa.Column("created_at", vault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", vault.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("emailed_at", vault.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_notifications_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_person_id"), ["person_id"], unique=False)

    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("actions", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", vault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", vault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", vault.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_access_requests_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_access_requests_record_id_records")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["people.id"], name=op.f("fk_access_requests_requester_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
    )
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_requests_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_access_requests_record_id"), ["record_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_access_requests_requester_id"), ["requester_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_access_requests_status"), ["status"], unique=False)

    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("approver_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", vault.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approver_id"], ["people.id"], name=op.f("fk_approvals_approver_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["access_requests.id"],
            name=op.f("fk_approvals_request_id_access_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("request_id", "approver_id", name=op.f("uq_approvals_request_id")),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approvals_request_id"), ["request_id"], unique=False)

    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("actions", sa.String(length=64), nullable=False),
        sa.Column("starts_at", vault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", vault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", vault.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.Column("revoke_reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_grants_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_grants_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_grants_record_id_records")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["access_requests.id"],
            name=op.f("fk_grants_request_id_access_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"], ["people.id"], name=op.f("fk_grants_revoked_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
        sa.UniqueConstraint("request_id", name=op.f("uq_grants_request_id")),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_record_id"), ["record_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_record_id"))
        batch_op.drop_index(batch_op.f("ix_grants_person_id"))
        batch_op.drop_index(batch_op.f("ix_grants_expires_at"))
        batch_op.drop_index(batch_op.f("ix_grants_client_id"))

    op.drop_table("grants")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approvals_request_id"))

    op.drop_table("approvals")
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_requests_status"))
        batch_op.drop_index(batch_op.f("ix_access_requests_requester_id"))
        batch_op.drop_index(batch_op.f("ix_access_requests_record_id"))
        batch_op.drop_index(batch_op.f("ix_access_requests_client_id"))

    op.drop_table("access_requests")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_person_id"))

    op.drop_table("notifications")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_person_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_kind"))

    op.drop_table("alerts")
