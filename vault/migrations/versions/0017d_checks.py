"""the four-properties check: intake digests, check runs and their findings

Revision ID: 0017d_checks
Revises: 0016_alert_params

Records and attachments filed before this revision have no digest (NULL): the check
reports them as ``no_intake_digest`` / ``no_blob_hash`` rather than guessing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0017d_checks"
down_revision = "0016_alert_params"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("content_digest", sa.String(64), nullable=True))
    with op.batch_alter_table("attachments") as batch:
        batch.add_column(sa.Column("blob_sha256", sa.String(64), nullable=True))
    op.create_table(
        "check_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("attachments", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.String(32), nullable=True),
        sa.Column("report_sha256", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["started_by_id"], ["people.id"], name="fk_check_runs_started_by_id_people"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_check_runs"),
    )
    op.create_index("ix_check_runs_started_at", "check_runs", ["started_at"])
    op.create_table(
        "check_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("property", sa.String(16), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("where", sa.String(300), nullable=False),
        sa.Column("resolved_by_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["check_runs.id"], name="fk_check_findings_run_id_check_runs"
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name="fk_check_findings_record_id_records"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_check_findings"),
    )
    op.create_index("ix_check_findings_run_id", "check_findings", ["run_id"])
    op.create_index("ix_check_findings_record_id", "check_findings", ["record_id"])
    op.create_index(
        "ix_check_findings_resolved_by_run_id", "check_findings", ["resolved_by_run_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_check_findings_resolved_by_run_id", "check_findings")
    op.drop_index("ix_check_findings_record_id", "check_findings")
    op.drop_index("ix_check_findings_run_id", "check_findings")
    op.drop_table("check_findings")
    op.drop_index("ix_check_runs_started_at", "check_runs")
    op.drop_table("check_runs")
    with op.batch_alter_table("attachments") as batch:
        batch.drop_column("blob_sha256")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("content_digest")
