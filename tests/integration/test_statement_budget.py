"""The request pipeline's database cost: round trips per consultation and per token check.

Counts what the app really sends: every statement executed on the vault's engine, and
every commit that reaches the server. On PostgreSQL the audit event of a consultation
is inserted in the same pipeline as the COMMIT (``vault.runtime.write_deferred``), so
the two make one round trip, counted as the commit; psycopg sends BEGIN with the first
statement, not on its own. A change that adds a round trip to the hot path fails here,
not in a benchmark.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event

from tests.factories import Factory
from vault.runtime import Vault

# DESIGN §8: at most 3 round trips for a consultation on PostgreSQL (sign-in with the
# person's lock; the record with its grants and quota windows; the event with the
# commit). SQLite sends its BEGIN IMMEDIATE as a statement and has no pipeline; it is
# in-process, so its statements are no network round trips, but they are held too.
CONSULT_BUDGET = {"postgresql": 3, "sqlite": 5}


@dataclass
class Seen:
    statements: list[str] = field(default_factory=list)
    commits: int = 0

    def round_trips(self) -> int:
        return len(self.statements) + self.commits

    def selects(self) -> list[str]:
        return [s for s in self.statements if s.startswith("SELECT")]


@contextmanager
def counted(vault: Vault) -> Iterator[Seen]:
    seen = Seen()

    def statement(conn, cursor, text, parameters, context, executemany) -> None:
        seen.statements.append(" ".join(text.split())[:70])

    def commit(conn) -> None:
        seen.commits += 1

    event.listen(vault.engine, "before_cursor_execute", statement)
    event.listen(vault.engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(vault.engine, "before_cursor_execute", statement)
        event.remove(vault.engine, "commit", commit)


@pytest.fixture
def custodian_token(make: Factory) -> tuple[str, int]:
    custodian = make.custodian("general")
    record = make.record(make.client("general"), content=b"x" * 4096)
    return make.token(custodian), record.id


def test_a_consultation_stays_within_its_round_trip_budget(
    api, vault: Vault, backend: str, custodian_token
):
    token, record_id = custodian_token
    path = f"/records/{record_id}/content?purpose=budget+check"
    assert api.get(path, token).status_code == 200  # warm: caches, compiled statements
    with counted(vault) as seen:
        resp = api.get(path, token)
    assert resp.status_code == 200
    assert "x" * 4096 in resp.get_data(as_text=True)
    assert seen.round_trips() <= CONSULT_BUDGET[backend], seen
    # ... and its event was written (with the commit), not skipped.
    events = vault.engine.connect()
    try:
        from sqlalchemy import func, select

        from audit.schema import audit_events

        count = events.execute(
            select(func.count()).where(audit_events.c.event_id == resp.json["event_id"])
        ).scalar()
    finally:
        events.close()
    assert count == 1


def test_token_authentication_is_one_statement(api, vault: Vault, backend: str, custodian_token):
    token, _ = custodian_token
    assert api.get("/me", token).status_code == 200
    with counted(vault) as seen:
        resp = api.get("/me", token)
    assert resp.status_code == 200
    assert len(seen.selects()) == 1, seen
    assert not [s for s in seen.statements if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert "BEGIN IMMEDIATE" not in seen.statements  # a read takes no write lock (SQLite)


def test_a_read_does_not_wait_for_a_writer(api, vault: Vault, backend: str, custodian_token):
    """A read-only route takes no write lock (SQLite): it answers while a writer works."""
    import time

    from sqlalchemy import text

    token, record_id = custodian_token
    writer = vault.engine.connect()
    try:
        writer.begin()
        if backend == "sqlite":
            writer.exec_driver_sql("SELECT 1")  # the engine began IMMEDIATE: lock held
        writer.execute(text("UPDATE records SET title = title WHERE id = :id"), {"id": record_id})
        started = time.monotonic()
        # (The catalogue's and the client list's pages are not among them: each page read
        # is recorded for the page quota, a write; see test_scraping_quota.py.)
        for path in ("/me", f"/records/{record_id}", "/grants"):
            assert api.get(path, token).status_code == 200, path
        assert time.monotonic() - started < 5  # never the 10 s busy timeout
    finally:
        writer.rollback()
        writer.close()
