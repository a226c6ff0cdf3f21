"""The audit tables are append-only in the database itself (invariant 5)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audit import (
    AuditLog,
    append_only_ddl,
    audit_chain,
    audit_checkpoints,
    audit_events,
    drop_append_only_ddl,
    metadata,
)
from tests.unit.audit.helpers import append_events, as_db_admin

TABLES = [audit_events, audit_chain, audit_checkpoints]


@pytest.fixture
def sealed(engine: sa.Engine, log: AuditLog) -> sa.Engine:
    """A database with a few sealed events, so every audit table has rows."""
    append_events(engine, log, 3)
    with engine.connect() as conn:
        log.seal(conn)
    return engine


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_update_is_rejected(sealed: sa.Engine, table: sa.Table) -> None:
    column = next(iter(table.primary_key.columns))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), sealed.begin() as conn:
        conn.execute(sa.update(table).values({column.name: column + 100}))


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_delete_is_rejected(sealed: sa.Engine, table: sa.Table) -> None:
    count = sa.select(sa.func.count()).select_from(table)
    with sealed.connect() as conn:
        before = conn.scalar(count)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), sealed.begin() as conn:
        conn.execute(sa.delete(table))
    with sealed.connect() as conn:
        assert conn.scalar(count) == before > 0


@pytest.mark.postgres
@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_truncate_is_rejected_on_postgresql(
    pg_engine: sa.Engine, log: AuditLog, table: sa.Table
) -> None:
    append_events(pg_engine, log, 2)
    with pg_engine.connect() as conn:
        log.seal(conn)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), pg_engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {table.name}")


def test_dropping_and_reinstalling_the_triggers(sealed: sa.Engine) -> None:
    """The attacker's tool works, and the migration's DDL puts the protection back."""
    with as_db_admin(sealed) as conn:
        conn.execute(sa.text("UPDATE audit_events SET outcome = 'error' WHERE seq = 1"))
    with sealed.begin() as conn:
        for statement in append_only_ddl(sealed.dialect.name):
            conn.exec_driver_sql(statement)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), sealed.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET outcome = 'ok' WHERE seq = 1"))


def test_inserts_stay_allowed(engine: sa.Engine, log: AuditLog) -> None:
    assert len(append_events(engine, log, 2)) == 2


@pytest.mark.parametrize("function", [append_only_ddl, drop_append_only_ddl])
def test_unknown_dialects_are_refused(function: object) -> None:
    with pytest.raises(ValueError, match="mysql"):
        function("mysql")  # type: ignore[operator]


def test_metadata_holds_exactly_the_audit_tables() -> None:
    assert set(metadata.tables) == {
        "audit_events",
        "audit_chain",
        "audit_checkpoints",
        "audit_tree",
    }
    # Not a foreign key: deleting an event must be detectable rather than blocked.
    assert not audit_chain.foreign_keys
