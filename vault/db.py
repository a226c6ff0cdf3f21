"""Engine, session factory and the declarative ``Base``; schema changes go through alembic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every vault model."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def make_engine(url: str, *, immediate: bool = True, **kw: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and (by default) immediate
    transactions."""
    if url.startswith("sqlite"):
        # Pooled (SQLAlchemy's default for a file): a connection opened per use paid its
        # pragmas, and closing the last one checkpointed and removed the WAL every time.
        engine = create_engine(url, **kw)
        _tune_sqlite(engine, immediate=immediate)
        return engine
    # No pre-ping: it costs every request a round trip. A connection the server dropped
    # fails its request once (503, nothing done) and SQLAlchemy then renews the pool;
    # connections are also renewed hourly.
    return create_engine(url, pool_size=5, max_overflow=5, pool_recycle=3600, **kw)


def _tune_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads and then
        # writes can fail with "database is locked" when another process committed
        # in between, which would turn a quota check into a race.
        # ... except a transaction that only reads (a read-only route): it must not hold
        # the write lock, so that readers never wait on writers or on each other.
        read_only = conn.get_execution_options().get("vault_read_only", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate and not read_only else "BEGIN")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """The session factory used by the app and the CLI."""
    return sessionmaker(engine, expire_on_commit=False)


READ_ONLY = "vault_read_only"
WRITER = "vault_writer"
NO_WRITES = "vault_no_writes"
_READS = ("SELECT", "WITH", "SHOW")


def make_read_sessionmaker(
    engine: Engine, *, writer: sessionmaker[Session], autocommit: bool = False
) -> sessionmaker[Session]:
    """Sessions for routes that only read.

    SQLite: a plain ``BEGIN`` (no write lock). PostgreSQL with ``autocommit`` (for bearer
    token requests, which write nothing to read): no transaction at all. psycopg would
    send ``BEGIN`` and ``COMMIT`` as round trips of their own, two of the three that a
    token-authenticated read costs. Each statement then sees what was committed before
    it, as under READ COMMITTED. Such a connection refuses to write (a route that writes
    is not a read), and a refusal's audit event is written by ``writer`` in a transaction
    of its own (:func:`vault.uow.finish`). A browser's read keeps its transaction: its
    session's idle clock is written with it.
    """
    options: dict[str, Any] = {READ_ONLY: True}
    info: dict[str, Any] = {}
    if autocommit and engine.dialect.name == "postgresql":
        options.update(isolation_level="AUTOCOMMIT", **{NO_WRITES: True})
        info[WRITER] = writer
        _refuse_writes(engine)
    return sessionmaker(engine.execution_options(**options), expire_on_commit=False, info=info)


def _refuse_writes(engine: Engine) -> None:
    if getattr(engine, "_vault_refuses_writes", False):
        return
    engine._vault_refuses_writes = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "before_cursor_execute")
    def _only_reads(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if conn.get_execution_options().get(NO_WRITES, False) and not statement.lstrip()[
            :6
        ].upper().startswith(_READS):
            raise ReadOnlyViolation(f"a read-only session tried to write: {statement[:60]}")


class ReadOnlyViolation(RuntimeError):
    """A route declared as only reading sent a statement that writes (a bug: fail closed)."""
