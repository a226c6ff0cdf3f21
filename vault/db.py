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
