"""multi-valued columns as rows: roles, designation tiers, requested and granted actions

Revision ID: 0008_multi_valued_rows
Revises: 0007_merge_heads

``people.roles``, ``designations.tiers``, ``access_requests.actions`` and
``grants.actions`` held comma-joined names, matched by substring. Each becomes a table
of (owner id, name) rows: the existing values are copied over, then the old columns
are dropped (batch mode, so SQLite rebuilds its tables).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_multi_valued_rows"
down_revision = "0007_merge_heads"
branch_labels = None
depends_on = None

# (new table, owner column, owner table, value column, old column, its width)
MOVES = (
    ("person_roles", "person_id", "people", "role", "roles", 100),
    ("designation_tiers", "designation_id", "designations", "tier", "tiers", 64),
    ("access_request_actions", "request_id", "access_requests", "action", "actions", 64),
    ("grant_actions", "grant_id", "grants", "action", "actions", 64),
)
INDEXED = {"person_roles", "designation_tiers"}  # looked up by value (auditors, deciders)


def upgrade() -> None:
    conn = op.get_bind()
    for table, owner_col, owner, value_col, old_col, _width in MOVES:
        op.create_table(
            table,
            sa.Column(owner_col, sa.Integer(), nullable=False),
            sa.Column(value_col, sa.String(length=16), nullable=False),
            sa.ForeignKeyConstraint(
                [owner_col],
                [f"{owner}.id"],
                name=op.f(f"fk_{table}_{owner_col}_{owner}"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint(owner_col, value_col, name=op.f(f"pk_{table}")),
        )
        if table in INDEXED:
            op.create_index(op.f(f"ix_{table}_{value_col}"), table, [value_col], unique=False)
        old = sa.table(owner, sa.column("id", sa.Integer()), sa.column(old_col, sa.String()))
        rows = [
            {owner_col: owner_id, value_col: name}
            for owner_id, joined in conn.execute(sa.select(old.c.id, old.c[old_col]))
            for name in sorted({n.strip() for n in (joined or "").split(",") if n.strip()})
        ]
        if rows:
            new = sa.table(
                table, sa.column(owner_col, sa.Integer()), sa.column(value_col, sa.String())
            )
            op.bulk_insert(new, rows)
        with op.batch_alter_table(owner, schema=None) as batch_op:
            batch_op.drop_column(old_col)


def downgrade() -> None:
    conn = op.get_bind()
    for table, owner_col, owner, value_col, old_col, width in reversed(MOVES):
        with op.batch_alter_table(owner, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(old_col, sa.String(length=width), nullable=False, server_default="")
            )
        new = sa.table(table, sa.column(owner_col, sa.Integer()), sa.column(value_col, sa.String()))
        joined: dict[int, list[str]] = {}
        for owner_id, name in conn.execute(
            sa.select(new.c[owner_col], new.c[value_col]).order_by(new.c[value_col])
        ):
            joined.setdefault(owner_id, []).append(name)
        old = sa.table(owner, sa.column("id", sa.Integer()), sa.column(old_col, sa.String()))
        for owner_id, names in joined.items():
            conn.execute(
                sa.update(old).where(old.c.id == owner_id).values({old_col: ",".join(names)})
            )
        with op.batch_alter_table(owner, schema=None) as batch_op:
            batch_op.alter_column(old_col, server_default=None)
        if table in INDEXED:
            op.drop_index(op.f(f"ix_{table}_{value_col}"), table_name=table)
        op.drop_table(table)
