"""the two-person rule: proposals, confirmed hire dates, approved designations

Revision ID: 0009_proposals
Revises: 0008_multi_valued_rows

A ``proposals`` table holds what one admin proposed and a second admin decides.
``people.hired_on_confirmed_at`` says when a hire date was confirmed by a second
person: the people already in the vault count as confirmed (their hire dates were
the vault's truth until now), so nobody loses tenure by the upgrade.
``designations.approved_by_id`` names the approving admin (empty for older ones).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vault.db

revision = "0009_proposals"
down_revision = "0008_multi_valued_rows"
branch_labels = None
depends_on = None

_UTC = vault.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", _UTC, nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["people.id"], name=op.f("fk_proposals_subject_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"], ["people.id"], name=op.f("fk_proposals_proposed_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["people.id"], name=op.f("fk_proposals_decided_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
    )
    op.create_index(op.f("ix_proposals_kind"), "proposals", ["kind"], unique=False)
    op.create_index(op.f("ix_proposals_status"), "proposals", ["status"], unique=False)
    op.create_index(op.f("ix_proposals_subject_id"), "proposals", ["subject_id"], unique=False)
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hired_on_confirmed_at", _UTC, nullable=True))
    people = sa.table(
        "people", sa.column("hired_on_confirmed_at", _UTC), sa.column("created_at", _UTC)
    )
    op.execute(sa.update(people).values(hired_on_confirmed_at=people.c.created_at))
    with op.batch_alter_table("designations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_designations_approved_by_id_people"), "people", ["approved_by_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("designations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_designations_approved_by_id_people"), type_="foreignkey")
        batch_op.drop_column("approved_by_id")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("hired_on_confirmed_at")
    op.drop_index(op.f("ix_proposals_subject_id"), table_name="proposals")
    op.drop_index(op.f("ix_proposals_status"), table_name="proposals")
    op.drop_index(op.f("ix_proposals_kind"), table_name="proposals")
    op.drop_table("proposals")
