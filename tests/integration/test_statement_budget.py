"""The request pipeline's database cost: round trips per consultation and per token check.

Counts what the app really sends: every statement executed on the vault's engine, and
every commit that reaches the server. On PostgreSQL the audit event of a consultation
is inserted in the same pipeline as the COMMIT (``vault.runtime.write_deferred``), so
the two make one round trip, counted as the commit; and the transaction's BEGIN goes out
in one pipeline with the token lookup (``vault.db.DirectReads.rows_in``). The listeners
see statements, not round trips, so on PostgreSQL the round trips are also counted on
the wire, from libpq's own trace of every message the connections send and receive
(``wire_round_trips``): BEGIN, COMMIT and a pipeline's syncs are in it.
A bearer token's read runs without a transaction (autocommit), so it sends no BEGIN and
no COMMIT: ``wire_commands`` watches for them.
The token lookup of a read route goes on the driver's own connection
(``vault.db.DirectReads``), which the counter watches too.
A change that adds a round trip to the hot path fails here, not in a benchmark.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.factories import Factory
from vault.db import Base
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

    def direct(text: str) -> None:
        seen.statements.append(" ".join(text.split())[:70])

    event.listen(vault.engine, "before_cursor_execute", statement)
    event.listen(vault.engine, "commit", commit)
    vault.direct.listeners.append(direct)
    try:
        yield seen
    finally:
        event.remove(vault.engine, "before_cursor_execute", statement)
        event.remove(vault.engine, "commit", commit)
        vault.direct.listeners.remove(direct)


@contextmanager
def wire_round_trips(vault: Vault) -> Iterator[Callable[[], list[list[str]]]]:
    """libpq's trace (PQtrace) of every connection this thread uses while the block
    runs: the pool's connections as they are checked out, and the thread's direct-read
    connection. Yields a function that ends the trace (the block's end does too) and
    gives the round trips of every traced connection, each the messages sent ("F ...")
    and received ("B ...") in it: a round trip is a run of messages sent that the server
    then answers. (The sealer's thread is not traced.)"""
    from psycopg import pq

    me = threading.get_ident()
    traces: list[tuple[object, str]] = []

    def trace(raw) -> None:  # type: ignore[no-untyped-def]
        path = os.path.join(folder, f"{len(traces)}.trace")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        raw.pgconn.trace(fd)  # libpq writes it through a FILE* of its own from now on
        raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        traces.append((raw, path))

    def checkout(dbapi_conn, record, proxy) -> None:  # type: ignore[no-untyped-def]
        if threading.get_ident() == me:
            trace(dbapi_conn)

    def untrace() -> None:
        if event.contains(vault.engine, "checkout", checkout):
            event.remove(vault.engine, "checkout", checkout)
        for raw, _ in traces:
            raw.pgconn.untrace()  # (flushes it; a second call does nothing)

    read: list[list[list[str]]] = []  # the round trips, once the trace has ended

    def round_trips() -> list[list[str]]:
        if not read:
            read.append(_read())
        return read[0]

    def _read() -> list[list[str]]:
        untrace()
        found: list[list[str]] = []
        for _, path in traces:
            with open(path) as f:
                text = f.read()
            # One message per line, "F|B <tab> length <tab> type <tab> fields", but a
            # query's own line breaks are written as they are: such a line goes on the last.
            messages: list[str] = []
            for line in text.splitlines():
                if line[:2] in ("F\t", "B\t"):
                    direction, _, kind, *fields = line.split("\t")
                    messages.append(f"{direction} {kind} {' '.join(fields)}".rstrip())
                elif messages:
                    messages[-1] += " " + line.strip()
            trips: list[list[str]] = []
            for message in messages:
                if message[0] == "F" and (not trips or trips[-1][-1][0] == "B"):
                    trips.append([])
                if trips:
                    trips[-1].append(message)
            found.extend(trips)
        return found

    with tempfile.TemporaryDirectory(prefix="vault-wire-") as folder:
        direct = getattr(vault.direct._local, "conn", None)
        if direct is not None:
            trace(direct)
        event.listen(vault.engine, "checkout", checkout)
        try:
            yield round_trips
        finally:
            round_trips()  # (read before the folder goes)


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
    if backend == "postgresql":
        # ... and on the wire: BEGIN with the token lookup, the facts statement, the
        # event with the COMMIT; no round trip of psycopg's own.
        with wire_round_trips(vault) as trips:
            again = api.get(path, token)
        assert again.status_code == 200
        sent = trips()
        assert len(sent) <= CONSULT_BUDGET[backend], sent
        begin, lookup = sent[0][0], sent[0][4]
        assert begin.startswith("F Parse") and '"BEGIN"' in begin, sent[0]
        assert lookup.startswith("F Parse") and "FROM api_tokens" in lookup, sent[0]
        assert any('"COMMIT"' in message for message in sent[-1]), sent[-1]
    if backend == "sqlite":
        # Sent on the driver's connection, the event's insert is counted all the same.
        inserts = [s for s in seen.statements if s.startswith("INSERT")]
        assert inserts and all(s.startswith("INSERT INTO audit_events") for s in inserts), seen
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


def test_a_consultation_builds_loads_and_runs_nothing_of_the_orm(api, custodian_token):
    """No ORM on the consultation's path (DESIGN §8): the request's unit of work is a
    session's transaction, but no mapped object is built, loaded or flushed and no ORM
    statement runs; the token, the record with its facts and the event are Core
    statements on the driver's connection, and the record comes back as a plain card."""
    token, record_id = custodian_token
    path = f"/records/{record_id}/content?purpose=budget+check"
    assert api.get(path, token).status_code == 200  # warm
    seen: list[str] = []

    def built(target, args, kwargs) -> None:
        seen.append(f"built {type(target).__name__}")

    def loaded(target, context) -> None:
        seen.append(f"loaded {type(target).__name__}")

    def orm(state) -> None:
        seen.append(f"ran {str(state.statement)[:60]}")

    def flushed(session, context, instances) -> None:
        seen.extend(f"flushed {type(o).__name__}" for o in (*session.new, *session.dirty))

    hooks = [(Base, "init", built), (Base, "load", loaded)]
    hooks += [(Session, "do_orm_execute", orm), (Session, "before_flush", flushed)]
    for target, name, fn in hooks:
        event.listen(target, name, fn, propagate=True)
    try:
        resp = api.get(path, token)
    finally:
        for target, name, fn in hooks:
            event.remove(target, name, fn)
    assert resp.status_code == 200 and resp.json["record"]["id"] == record_id
    assert seen == []


def test_token_authentication_is_one_statement(api, vault: Vault, backend: str, custodian_token):
    token, _ = custodian_token
    assert api.get("/me", token).status_code == 200
    with counted(vault) as seen:
        resp = api.get("/me", token)
    assert resp.status_code == 200
    assert len(seen.selects()) == 1, seen
    assert not [s for s in seen.statements if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert "BEGIN IMMEDIATE" not in seen.statements  # a read takes no write lock (SQLite)
    # ... and nothing else: no transaction (BEGIN, COMMIT) on either database.
    assert len(seen.statements) == 1 and seen.commits == 0, seen


def test_a_token_is_one_statement_on_a_route_that_writes_or_opens_content(
    api, vault: Vault, custodian_token, make: Factory
):
    """Writing and content routes look the token up in their own transaction (the
    content route locks the person with it): still one statement for the token."""
    token, record_id = custodian_token
    path = f"/records/{record_id}/content?purpose=budget+check"
    assert api.get(path, token).status_code == 200
    with counted(vault) as seen:
        assert api.get(path, token).status_code == 200
    lookup = "SELECT people.id, people.email, people.name, people.sso_subject"  # by token
    assert seen.selects()[0].startswith(lookup), seen
    assert len([s for s in seen.selects() if s.startswith(lookup)]) == 1, seen
    with counted(vault) as seen:
        made = api.post("/me/tokens", token, json={"label": "second"})
    assert made.status_code in (401, 403), made.json  # a token never mints another
    assert len([s for s in seen.selects() if s.startswith(lookup)]) == 1, seen


def test_a_read_route_sees_a_revoked_token_and_a_changed_person_at_once(
    api, vault: Vault, custodian_token, make: Factory, db
):
    """The read route's lookup keeps nothing between requests: a revocation or a new
    designation made by another connection counts on the very next request."""
    from sqlalchemy import text

    token, _ = custodian_token
    me = api.get("/me", token)
    assert me.status_code == 200 and me.json["custodian_tiers"] == ["general"]
    with vault.engine.begin() as conn:
        conn.execute(
            text("UPDATE people SET name = 'Renamed' WHERE id = :id"), {"id": me.json["id"]}
        )
    assert api.get("/me", token).json["name"] == "Renamed"
    with vault.engine.begin() as conn:
        conn.execute(text("UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP"))
    gone = api.get("/me", token)
    assert gone.status_code == 401 and gone.json["code"] == "invalid_token"


def test_a_dropped_direct_connection_fails_one_request_cleanly(
    api, vault: Vault, backend: str, custodian_token
):
    """The server drops the read route's connection (PostgreSQL: the backend is
    terminated; SQLite: the connection is closed under it): that request gets 503
    storage_unavailable, nothing else, and the next one opens a new connection."""
    token, _ = custodian_token
    assert api.get("/me", token).status_code == 200
    conn = vault.direct._local.conn
    if backend == "postgresql":
        from sqlalchemy import text

        with vault.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": conn.info.backend_pid})
    else:
        conn.close()
    failed = api.get("/me", token)
    assert failed.status_code == 503 and failed.json["code"] == "storage_unavailable"
    assert api.get("/me", token).status_code == 200


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


@contextmanager
def wire_commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The commands psycopg sends on its own (BEGIN, COMMIT, ROLLBACK): each is a round trip.
    Observed by wrapping the driver's method; what it sends is unchanged."""
    from psycopg import _connection_base

    sent: list[bytes] = []
    real = _connection_base.BaseConnection._exec_command

    def observed(self, command, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(command if isinstance(command, bytes) else str(command).encode())
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(_connection_base.BaseConnection, "_exec_command", observed)
    yield sent


def test_a_token_read_on_postgresql_is_its_statements_alone(
    api, vault: Vault, backend: str, custodian_token, make: Factory, monkeypatch
):
    """A bearer token's read sends no BEGIN and no COMMIT (autocommit): /me is one round
    trip. What it refuses is still recorded, by a transaction of its own, and such a
    session cannot write."""
    from sqlalchemy import func, select, text

    from audit.schema import audit_events
    from vault.db import ReadOnlyViolation

    token, record_id = custodian_token
    employee = make.token(make.person())
    assert api.get("/me", token).status_code == 200
    with wire_commands(monkeypatch) as sent, counted(vault) as seen:
        assert api.get("/me", token).status_code == 200
        me = list(sent)
        denied = api.get("/audit/events", employee)
    assert denied.status_code == 403
    if backend == "postgresql":
        assert me == [], me
        assert len(seen.selects()) >= 1
        with vault.token_read_sessions() as session, pytest.raises(ReadOnlyViolation):
            session.execute(text("UPDATE records SET title = 'x' WHERE id = :id"),
                            {"id": record_id})  # fmt: skip
    with vault.engine.connect() as conn:
        kept = conn.execute(
            select(func.count()).where(
                audit_events.c.action == "audit:read", audit_events.c.decision == "deny"
            )
        ).scalar()
        title = conn.execute(text("SELECT title FROM records WHERE id = :id"),
                             {"id": record_id}).scalar()  # fmt: skip
    assert kept == 1
    assert title != "x"
