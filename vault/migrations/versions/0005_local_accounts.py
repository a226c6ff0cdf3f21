"""local accounts: password hashes, TOTP secrets, sign-in failures

Revision ID: 0005_local_accounts
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vault.db

revision = "0005_local_accounts"
down_revision = "0001"
branch_labels = None
depends_on = None

_UTC = vault.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "local_credentials",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("password_set_at", _UTC, nullable=True),
        sa.Column("totp_wrapped_dek", sa.LargeBinary(), nullable=True),
        sa.Column("totp_secret_ct", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("totp_enrolled_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_local_credentials_person_id_people")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_local_credentials")),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(
        "ix_login_failures_scope_key_at", "login_failures", ["scope", "key", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_login_failures_scope_key_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_table("local_credentials")
