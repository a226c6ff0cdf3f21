"""custody: loans, item locations, client reviews, imported rows

Revision ID: 0003_custody
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vault.db

revision = "0003_custody"
down_revision = "0001"
branch_labels = None
depends_on = None

_UTC = vault.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "loans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("lent_by_id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("out_at", _UTC, nullable=False),
        sa.Column("due_at", _UTC, nullable=False),
        sa.Column("renewals", sa.Integer(), nullable=False),
        sa.Column("pages_out", sa.Integer(), nullable=False),
        sa.Column("home_location", sa.String(length=200), nullable=False),
        sa.Column("returned_at", _UTC, nullable=True),
        sa.Column("received_by_id", sa.Integer(), nullable=True),
        sa.Column("pages_in", sa.Integer(), nullable=True),
        sa.Column("condition", sa.String(length=16), nullable=True),
        sa.Column("pages_mismatch", sa.Boolean(), nullable=False),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("last_reminder_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_loans_item_id_items")),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_loans_record_id_records")
        ),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["people.id"], name=op.f("fk_loans_borrower_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["lent_by_id"], ["people.id"], name=op.f("fk_loans_lent_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["received_by_id"], ["people.id"], name=op.f("fk_loans_received_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loans")),
    )
    op.create_index(op.f("ix_loans_item_id"), "loans", ["item_id"])
    op.create_index(op.f("ix_loans_record_id"), "loans", ["record_id"])
    op.create_index(op.f("ix_loans_borrower_id"), "loans", ["borrower_id"])
    op.create_index(op.f("ix_loans_due_at"), "loans", ["due_at"])
    op.create_index(op.f("ix_loans_returned_at"), "loans", ["returned_at"])
    # One holder at a time: at most one open loan per item, on both databases.
    op.create_index(
        "uq_loans_open_item",
        "loans",
        ["item_id"],
        unique=True,
        sqlite_where=sa.text("returned_at IS NULL"),
        postgresql_where=sa.text("returned_at IS NULL"),
    )

    op.create_table(
        "item_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=True),
        sa.Column("moved_by_id", sa.Integer(), nullable=True),
        sa.Column("moved_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_locations_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_item_locations_loan_id_loans")
        ),
        sa.ForeignKeyConstraint(
            ["moved_by_id"], ["people.id"], name=op.f("fk_item_locations_moved_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_locations")),
    )
    op.create_index(op.f("ix_item_locations_item_id"), "item_locations", ["item_id"])

    op.create_table(
        "client_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_reviews_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["people.id"],
            name=op.f("fk_client_reviews_reviewed_by_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_reviews")),
    )
    op.create_index(op.f("ix_client_reviews_client_id"), "client_reviews", ["client_id"])
    op.create_index(op.f("ix_client_reviews_reviewed_at"), "client_reviews", ["reviewed_at"])

    op.create_table(
        "imported_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("row_key", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_imported_rows_record_id_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_rows")),
        sa.UniqueConstraint("row_key", name=op.f("uq_imported_rows_row_key")),
    )


def downgrade() -> None:
    op.drop_table("imported_rows")
    op.drop_table("client_reviews")
    op.drop_table("item_locations")
    op.drop_index("uq_loans_open_item", table_name="loans")
    op.drop_table("loans")
