"""the export quota's units, kept by the database from the audit log

Revision ID: 0019_quota_openings
Revises: 0018_merge_heads

A consultation counted the person's distinct openings over their day of audit events on
every request, a cost that grew with each of their events. ``quota_openings`` holds one row
per (person, unit) with the unit's last use, kept by a trigger on ``audit_events`` in the
event's own transaction: every allowed counted event upserts its row, and the person's rows
older than two days go. A window is then a count of at most its limit's rows. The rows of
the last two days are filled in from the log.

The counted actions are written here as they are today; ``vault.access.COUNTED`` is checked
against the trigger by ``tests/integration/test_guard_windows.py``, so a new counted action
needs a migration that replaces the trigger.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_quota_openings"
down_revision = "0018_merge_heads"
branch_labels = None
depends_on = None

# The SQL below is built from these constants only, no input reaches it (hence S608's noqa).
COUNTED = ("client:lookup", "item:borrow", "record:consult", "record:copy")
LOOKUPS = ("client:lookup",)


def _names(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# Which events count, and the unit each one is (as ``vault.access`` counted them).
_WHEN = (
    f"NEW.decision = 'allow' AND NEW.actor_person_id IS NOT NULL "
    f"AND NEW.action IN ({_names(COUNTED)}) "
    f"AND (NEW.action IN ({_names(LOOKUPS)}) OR NEW.resource_record IS NOT NULL)"
)
_UNIT = (
    f"CASE WHEN NEW.action IN ({_names(LOOKUPS)}) THEN NEW.event_id ELSE NEW.resource_record END"
)

_PG = [
    "CREATE OR REPLACE FUNCTION quota_opening() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # noqa: S608
    "INSERT INTO quota_openings (person_id, unit, last_at) "
    f"VALUES (NEW.actor_person_id, {_UNIT}, NEW.time) "
    "ON CONFLICT (person_id, unit) DO UPDATE "
    "SET last_at = GREATEST(quota_openings.last_at, EXCLUDED.last_at); "
    "DELETE FROM quota_openings WHERE person_id = NEW.actor_person_id "
    "AND last_at < now() - interval '2 days'; "
    "RETURN NULL; END $$",
    f"CREATE TRIGGER audit_events_quota AFTER INSERT ON audit_events FOR EACH ROW "
    f"WHEN ({_WHEN}) EXECUTE FUNCTION quota_opening()",
]
_SQLITE = [
    f"CREATE TRIGGER audit_events_quota AFTER INSERT ON audit_events WHEN {_WHEN} BEGIN "  # noqa: S608
    "INSERT INTO quota_openings (person_id, unit, last_at) "
    f"VALUES (NEW.actor_person_id, {_UNIT}, NEW.time) "
    "ON CONFLICT (person_id, unit) DO UPDATE SET last_at = max(last_at, excluded.last_at); "
    # Times are stored as 'YYYY-MM-DD HH:MM:SS.ffffff' text, compared as text.
    "DELETE FROM quota_openings WHERE person_id = NEW.actor_person_id "
    "AND last_at < strftime('%Y-%m-%d %H:%M:%S', 'now', '-2 days'); "
    "END",
]


def upgrade() -> None:
    op.create_table(
        "quota_openings",
        sa.Column("person_id", sa.Integer(), primary_key=True),
        sa.Column("unit", sa.String(64), primary_key=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_quota_openings_person_last", "quota_openings", ["person_id", "last_at"])
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in _PG if pg else _SQLITE:
        op.execute(statement)
    since = "now() - interval '2 days'" if pg else "strftime('%Y-%m-%d %H:%M:%S', 'now', '-2 days')"
    unit = _UNIT.replace("NEW.", "")
    op.execute(
        "INSERT INTO quota_openings (person_id, unit, last_at) "  # noqa: S608
        f"SELECT actor_person_id, {unit}, max(time) FROM audit_events "
        f"WHERE {_WHEN.replace('NEW.', '')} AND time >= {since} "
        f"GROUP BY actor_person_id, {unit}"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_quota ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS quota_opening()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_quota")
    op.drop_index("ix_quota_openings_person_last", table_name="quota_openings")
    op.drop_table("quota_openings")
