"""appraisal: retention schedules, legal holds, disposal batches, destruction certificates

Revision ID: 0017c_appraisal
Revises: 0016_alert_params
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vault.db

revision = "0017c_appraisal"
down_revision = "0016_alert_params"
branch_labels = None
depends_on = None

_UTC = vault.db.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("disposed_at", _UTC, nullable=True))
        batch.add_column(sa.Column("disposal_batch_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("relationship_ended_on", sa.Date(), nullable=True))
    op.create_table(
        "retention_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=False),
        sa.Column("loaded_at", _UTC, nullable=False),
        sa.Column("replaced_at", _UTC, nullable=True),
        _fk("retention_schedules", "proposed_by_id", "people"),
        _fk("retention_schedules", "approved_by_id", "people"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_schedules")),
    )
    op.create_index(
        op.f("ix_retention_schedules_replaced_at"), "retention_schedules", ["replaced_at"]
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("placed_by_id", sa.Integer(), nullable=True),
        sa.Column("placed_at", _UTC, nullable=False),
        sa.Column("lifted_at", _UTC, nullable=True),
        sa.Column("lifted_by_id", sa.Integer(), nullable=True),
        _fk("legal_holds", "client_id", "clients"),
        _fk("legal_holds", "placed_by_id", "people"),
        _fk("legal_holds", "lifted_by_id", "people"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index(op.f("ix_legal_holds_client_id"), "legal_holds", ["client_id"])
    op.create_index(op.f("ix_legal_holds_lifted_at"), "legal_holds", ["lifted_at"])
    op.create_table(
        "legal_hold_records",
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        _fk("legal_hold_records", "hold_id", "legal_holds"),
        _fk("legal_hold_records", "record_id", "records"),
        sa.PrimaryKeyConstraint("hold_id", "record_id", name=op.f("pk_legal_hold_records")),
    )
    op.create_index(op.f("ix_legal_hold_records_record_id"), "legal_hold_records", ["record_id"])
    op.create_table(
        "disposal_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=False),
        sa.Column("proposed_at", _UTC, nullable=False),
        sa.Column("needs_custodian", sa.Boolean(), nullable=False),
        sa.Column("admin_approved_by_id", sa.Integer(), nullable=True),
        sa.Column("custodian_approved_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", _UTC, nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        _fk("disposal_batches", "proposed_by_id", "people"),
        _fk("disposal_batches", "admin_approved_by_id", "people"),
        _fk("disposal_batches", "custodian_approved_by_id", "people"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposal_batches")),
    )
    op.create_index(op.f("ix_disposal_batches_status"), "disposal_batches", ["status"])
    op.create_table(
        "disposal_items",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        _fk("disposal_items", "batch_id", "disposal_batches"),
        _fk("disposal_items", "record_id", "records"),
        sa.PrimaryKeyConstraint("batch_id", "record_id", name=op.f("pk_disposal_items")),
    )
    op.create_index(op.f("ix_disposal_items_record_id"), "disposal_items", ["record_id"])
    op.create_table(
        "destruction_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        _fk("destruction_certificates", "batch_id", "disposal_batches"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destruction_certificates")),
        sa.UniqueConstraint("batch_id", name=op.f("uq_destruction_certificates_batch_id")),
    )


def downgrade() -> None:
    op.drop_table("destruction_certificates")
    op.drop_index(op.f("ix_disposal_items_record_id"), table_name="disposal_items")
    op.drop_table("disposal_items")
    op.drop_index(op.f("ix_disposal_batches_status"), table_name="disposal_batches")
    op.drop_table("disposal_batches")
    op.drop_index(op.f("ix_legal_hold_records_record_id"), table_name="legal_hold_records")
    op.drop_table("legal_hold_records")
    op.drop_index(op.f("ix_legal_holds_lifted_at"), table_name="legal_holds")
    op.drop_index(op.f("ix_legal_holds_client_id"), table_name="legal_holds")
    op.drop_table("legal_holds")
    op.drop_index(op.f("ix_retention_schedules_replaced_at"), table_name="retention_schedules")
    op.drop_table("retention_schedules")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("relationship_ended_on")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("disposal_batch_id")
        batch.drop_column("disposed_at")
