"""audit keys by version, algorithms, and the Merkle tree of the audit chain

Revision ID: 0017a_audit_evidence
Revises: 0016_alert_params

Events and checkpoints name their key and hash algorithm (NULL on older rows: ``file:1``
and ``sha256``); checkpoints sign the Merkle tree head (``root``, NULL on older ones);
``audit_tree`` stores the tree's complete subtrees (append-only, like the other audit
tables). Columns are added with plain ALTER TABLE: a batch copy of SQLite's audit
tables would drop their append-only triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audit.schema import tree_append_only_ddl

revision = "0017a_audit_evidence"
down_revision = "0016_alert_params"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("mac_key", sa.String(64), nullable=True))
    op.add_column("audit_events", sa.Column("alg", sa.String(8), nullable=True))
    for name, size in (("alg", 8), ("key_id", 64), ("root", 64)):
        op.add_column("audit_checkpoints", sa.Column(name, sa.String(size), nullable=True))
    op.create_table(
        "audit_tree",
        sa.Column("alg", sa.String(8), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False, autoincrement=False),
        sa.Column(
            "idx",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=False,
        ),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("alg", "level", "idx", name="pk_audit_tree"),
    )
    for statement in tree_append_only_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("audit_tree")
    # SQLite (3.35+) drops a column in place; the append-only triggers stay.
    for name in ("root", "key_id", "alg"):
        op.drop_column("audit_checkpoints", name)
    for name in ("alg", "mac_key"):
        op.drop_column("audit_events", name)
