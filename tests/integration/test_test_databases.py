"""The suite's own PostgreSQL databases: one a test is done with is given to the next
test only empty, and only if its schema is still the template's (``tests/databases.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests import databases


def _used(tmp_path: Path, change: str = "") -> str:
    """A database at the head that a test wrote to (and changed with ``change``), then let go;
    the name it had."""
    url = databases.migrated("postgresql", tmp_path)
    databases.upgrade(url)
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO people (email, name, hired_on, under_review, created_at)"
                    " VALUES ('kept@example.test', 'Kept', '2020-01-01', false, now())"
                )
            )
            if change:
                conn.execute(sa.text(change))
    finally:
        engine.dispose()
        databases.drop(url)  # (emptied for reuse or dropped, never left)
        databases.wait_for_drops()
    return sa.make_url(url).database or ""


@pytest.mark.postgres
def test_a_database_is_given_again_empty_with_its_sequences_at_their_start(
    pg_admin, tmp_path: Path
):
    name = _used(tmp_path)
    assert name in databases._emptied
    url = databases.migrated("postgresql", tmp_path)
    try:
        assert sa.make_url(url).database == name
        engine = sa.create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM people")).scalar() == 0
                made = conn.execute(
                    sa.text(
                        "INSERT INTO people (email, name, hired_on, under_review, created_at)"
                        " VALUES ('new@example.test', 'New', '2020-01-01', false, now())"
                        " RETURNING id"
                    )
                ).scalar()
                assert made == 1
                # The audit log's append-only rule is the template's again.
                refused = pytest.raises(sa.exc.DBAPIError, match="append-only")
                with refused, conn.begin_nested():
                    conn.execute(sa.text("TRUNCATE audit_events"))
        finally:
            engine.dispose()
    finally:
        databases.drop(url)
        databases.wait_for_drops()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change",
        "CREATE TABLE extra (id int)",
        "DROP INDEX ix_audit_events_action",
        "CREATE OR REPLACE FUNCTION quota_opening() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN NEW; END $$",
        "UPDATE alembic_version SET version_num = 'other'",
    ],
)
def test_a_database_whose_schema_a_test_changed_is_dropped(pg_admin, tmp_path: Path, change):
    name = _used(tmp_path, change)
    assert name not in databases._emptied
    with pg_admin.connect() as conn:
        left = conn.execute(
            sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
        ).scalar()
    assert left == 0
