"""A transaction whose BEGIN goes out with its first statement is a transaction all the same.

On PostgreSQL a token lookup that opens a transaction sends its ``BEGIN`` in one pipeline
with it, on a connection switched to the driver's autocommit until the transaction ends
(``vault.db.DirectReads.rows_in``). What must hold: the person's lock lasts until the
commit, a rollback undoes everything after the lookup, and the connection goes back to
the pool as the driver's own, so the next transaction on it is one too.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from vault.caller import Caller
from vault.db import make_engine, make_sessionmaker
from vault.identity.tokens import issue_token, person_for_token
from vault.runtime import Vault


def _token(vault: Vault, db: Session, make) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    person = make.custodian("general")
    token = issue_token(vault, db, Caller.operator(), person)
    db.commit()
    return token, person.id


def _name(db: Session, person_id: int) -> str:
    """The person's name as another connection sees it (SQLite: one that takes no write
    lock)."""
    with db.get_bind().connect() as conn:
        return conn.execute(
            sa.text("SELECT name FROM people WHERE id = :id"), {"id": person_id}
        ).scalar_one()


def test_a_rollback_undoes_what_followed_the_lookup(vault: Vault, db: Session, make):
    token, person_id = _token(vault, db, make)
    with vault.sessions() as session:
        assert person_for_token(vault.direct, session, token, lock=True) is not None
        session.execute(
            sa.text("UPDATE people SET name = 'Changed' WHERE id = :id"), {"id": person_id}
        )
        assert _name(db, person_id) != "Changed"  # not seen before the commit
        session.rollback()
    assert _name(db, person_id) != "Changed"
    with vault.sessions() as session:
        assert person_for_token(vault.direct, session, token, lock=True) is not None
        session.execute(
            sa.text("UPDATE people SET name = 'Changed' WHERE id = :id"), {"id": person_id}
        )
        session.commit()
    assert _name(db, person_id) == "Changed"


@pytest.mark.postgres  # SQLite has one writer at a time: no row lock to hold
def test_the_persons_lock_lasts_until_the_commit(vault: Vault, db: Session, make):
    """The content route's lookup locks the person: another transaction cannot lock them
    until the first one ends (with autocommit, the lock would end with the statement)."""
    token, person_id = _token(vault, db, make)
    other = make_engine(vault.config.database_url)
    try:
        with vault.sessions() as session:
            assert person_for_token(vault.direct, session, token, lock=True) is not None
            with other.connect() as conn:
                conn.execute(sa.text("SET lock_timeout = '200ms'"))
                with pytest.raises(OperationalError, match="lock timeout"):
                    conn.execute(
                        sa.text("SELECT id FROM people WHERE id = :id FOR UPDATE"),
                        {"id": person_id},
                    )
                conn.rollback()
                session.commit()
                locked = conn.execute(
                    sa.text("SELECT id FROM people WHERE id = :id FOR UPDATE"),
                    {"id": person_id},
                ).scalar_one()
                assert locked == person_id
    finally:
        other.dispose()


@pytest.mark.postgres  # SQLite's driver never begins a transaction by itself here
def test_the_next_transaction_on_the_connection_is_the_drivers_own(vault: Vault, db: Session, make):
    token, person_id = _token(vault, db, make)
    engine = make_engine(vault.config.database_url, pool_size=1, max_overflow=0)
    sessions = make_sessionmaker(engine)
    try:
        for end in ("commit", "rollback"):
            with sessions() as session:
                assert person_for_token(vault.direct, session, token, lock=True) is not None
                raw = session.connection().connection.driver_connection
                assert raw.autocommit  # this transaction sent its own BEGIN
                getattr(session, end)()
            assert raw.autocommit is False
            # The one pooled connection again: a statement then a rollback undoes it.
            with sessions() as session:
                session.execute(
                    sa.text("UPDATE people SET name = 'Lost' WHERE id = :id"), {"id": person_id}
                )
                assert session.connection().connection.driver_connection is raw
                session.rollback()
            assert _name(db, person_id) != "Lost"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_connection_whose_transaction_cannot_end_is_not_used_again(
    vault: Vault, db: Session, make
):
    """The server drops the connection mid-transaction: its rollback fails, and the
    connection is closed rather than kept in autocommit; the next session gets a new one."""
    token, _ = _token(vault, db, make)
    engine = make_engine(vault.config.database_url, pool_size=1, max_overflow=0)
    sessions = make_sessionmaker(engine)
    try:
        session = sessions()
        assert person_for_token(vault.direct, session, token, lock=True) is not None
        raw = session.connection().connection.driver_connection
        with vault.engine.connect() as admin:
            pid = raw.info.backend_pid
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(OperationalError):
            session.execute(sa.text("SELECT 1"))
        session.close()
        assert raw.closed
        with sessions() as session:
            assert person_for_token(vault.direct, session, token, lock=True) is not None
            assert session.connection().connection.driver_connection is not raw
    finally:
        engine.dispose()
