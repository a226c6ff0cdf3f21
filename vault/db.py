"""Engine, session factory and the declarative ``Base``; schema changes go through alembic."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, Select, create_engine, event
from sqlalchemy.exc import OperationalError
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
    engine = create_engine(url, **{"pool_size": 5, "max_overflow": 5, "pool_recycle": 3600, **kw})
    if engine.dialect.driver == "psycopg":
        _end_begun_with_their_transaction(engine)
    return engine


# PostgreSQL (psycopg): a transaction whose BEGIN went out in one pipeline with its first
# statement (``DirectReads.rows_in``). psycopg sends a transaction's BEGIN as a round trip
# of its own, even in pipeline mode; such a connection is switched to the driver's
# autocommit (so psycopg sends no BEGIN) for as long as its transaction lasts, and sends
# its own. Every statement of the transaction then runs in it, as in any other, and the
# driver's commit and rollback end it (psycopg sends COMMIT and ROLLBACK by the server's
# transaction status, not by its autocommit flag).
_BEGUN = "_vault_begun_with_first_statement"
_ENDS_BEGUN = "_vault_ends_begun_transactions"


def _begin_with_first_statement(raw: Any) -> bool:
    """Whether ``raw``'s transaction can begin in one pipeline with its first statement:
    nothing of it has been sent yet, and it asks for nothing but the server's defaults
    (no isolation level, access mode or autocommit of SQLAlchemy's)."""
    from psycopg.pq import TransactionStatus

    return (
        not raw.autocommit
        and raw.pgconn.transaction_status == TransactionStatus.IDLE
        and raw.isolation_level is None
        and raw.read_only is None
        and raw.deferrable is None
        and raw._pipeline is None
    )


def _end_begun(conn: Any) -> None:
    """After a commit or rollback: the connection is the driver's own again (psycopg
    begins its next transaction itself). If it cannot be (its transaction did not end:
    a broken connection), it is closed, so that nothing runs on it outside a transaction;
    the pool then replaces it."""
    raw = _driver(conn)
    if not getattr(raw, _BEGUN, False):
        return
    setattr(raw, _BEGUN, False)
    try:
        raw.autocommit = False
    except Exception:  # noqa: BLE001 - whatever stops it, the connection is not used again
        with contextlib.suppress(Exception):
            raw.close()


def _end_begun_with_their_transaction(engine: Engine) -> None:
    # (The pool's reset of a returned connection is a rollback too.) Only a dialect that
    # ends them lets a transaction begin with its first statement.
    _after_commit_and_rollback(engine, lambda dbapi_conn, _committed: _end_begun(dbapi_conn))
    setattr(engine.dialect, _ENDS_BEGUN, True)


def _after_commit_and_rollback(engine: Engine, after: Callable[[Any, bool], None]) -> None:
    """Call ``after(dbapi_conn, committed)`` once each of the dialect's commits and
    rollbacks has run, whether it succeeded or raised."""
    dialect: Any = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_conn: Any) -> None:
        try:
            commit(dbapi_conn)
        finally:
            after(dbapi_conn, True)

    def do_rollback(dbapi_conn: Any) -> None:
        try:
            rollback(dbapi_conn)
        finally:
            after(dbapi_conn, False)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback


BUSY_TIMEOUT = 10.0  # seconds a writer waits for its turn, as SQLite's busy_timeout


class WriterTurns:
    """The writers of one SQLite file take turns here, then take SQLite's write lock.

    SQLite's own wait for its write lock (``busy_timeout``) polls: a writer that finds
    the lock taken sleeps 1, 2, 5, 10, 15, 20 ms and more between tries, however soon
    the lock is free, so two processes that both write (the app's workers) spend more
    time asleep than writing. Here a writer waits its turn on a ``threading.Lock`` (its
    own process's other threads: woken at once) and then on an ``flock`` of a file beside
    the database (the other processes: polled every 50 microseconds at first, never more
    than 1 ms apart), and begins ``IMMEDIATE`` when its turn comes, so SQLite's lock is
    then almost always free. A turn is given back when the transaction commits or rolls
    back, or its connection is closed. SQLite's lock stays the one that counts: a writer
    that takes no turn (the ``sqlite3`` shell, a deferred transaction that writes) is
    serialized by it as before. After ``BUSY_TIMEOUT`` seconds the writer fails as SQLite
    would ("database is locked", a 503 that does nothing).
    """

    def __init__(self, path: str, timeout: float | None = None) -> None:
        self._path = path + "-writer"
        self._timeout = BUSY_TIMEOUT if timeout is None else timeout
        self._pid = -1
        self._threads = threading.Lock()
        self._fd = -1
        self._holder: int | None = None  # id() of the DBAPI connection whose turn it is
        _TURNS.add(self)

    def _fresh(self) -> None:
        # A forked child never shares its parent's turn: another lock, another open file.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._threads = threading.Lock()
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._holder = None

    def _forget_parent(self) -> None:
        # In a forked child, at once: an flock lasts while any copy of its descriptor is
        # open, so a child that kept its parent's would keep the parent's turn taken after
        # the parent died in it.
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd, self._pid, self._holder = -1, -1, None

    def take(self, dbapi_conn: Any) -> None:
        """Wait for this connection's turn to write (raises "database is locked")."""
        self._fresh()
        deadline = time.monotonic() + self._timeout
        if not self._threads.acquire(timeout=self._timeout):
            raise sqlite3.OperationalError("database is locked (no writer's turn)")
        try:
            pause = 0.00005
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise sqlite3.OperationalError(
                            "database is locked (no writer's turn)"
                        ) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.001)
        except BaseException:
            self._threads.release()
            raise
        self._holder = id(_driver(dbapi_conn))

    def give_back(self, dbapi_conn: Any) -> None:
        """End ``dbapi_conn``'s turn, if it has one (after its commit or rollback)."""
        if self._holder != id(_driver(dbapi_conn)) or self._pid != os.getpid():
            return
        self._holder = None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


_TURNS: weakref.WeakSet[WriterTurns] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for turns in list(_TURNS):
        turns._forget_parent()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _driver(conn: Any) -> Any:
    """The driver's connection, whether given it or the pool's proxy of it."""
    return getattr(conn, "dbapi_connection", None) or conn


def _tune_sqlite(engine: Engine, *, immediate: bool) -> None:
    path = engine.url.database or ""
    turns = WriterTurns(path) if immediate and path and path != ":memory:" else None
    if turns is not None:
        _give_back_after(engine, turns)

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
        # ... and a bearer token's read takes no transaction at all (each statement is its
        # own, as on PostgreSQL: see make_read_sessionmaker).
        options = conn.get_execution_options()
        if options.get(NO_WRITES, False):
            return
        read_only = options.get(READ_ONLY, False)
        if not immediate or read_only:
            conn.exec_driver_sql("BEGIN")
            return
        raw = conn.connection.dbapi_connection
        if turns is not None:
            try:
                turns.take(raw)
            except sqlite3.OperationalError as exc:
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if turns is not None:
                turns.give_back(raw)
            raise


def _give_back_after(engine: Engine, turns: WriterTurns) -> None:
    """A writer's turn ends with its transaction, or with its connection."""

    def after(dbapi_conn: Any, committed: bool) -> None:
        if not (committed and dbapi_conn.in_transaction):
            turns.give_back(dbapi_conn)

    _after_commit_and_rollback(engine, after)
    # Not on "detach": a detached connection still holds its transaction (and its turn).
    for name in ("close", "invalidate", "close_detached"):
        event.listen(engine, name, lambda dbapi_conn, *_: turns.give_back(dbapi_conn))


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

    SQLite: a plain ``BEGIN`` (no write lock). With ``autocommit`` (for bearer token
    requests, which write nothing to read): no transaction at all, on either database.
    psycopg would send ``BEGIN`` and ``COMMIT`` as round trips of their own, two of the
    three that a token-authenticated read costs; SQLite's cost less but are a third of
    such a request's time. Each statement then sees what was committed before
    it, as under READ COMMITTED. Such a connection refuses to write (a route that writes
    is not a read), and a refusal's audit event is written by ``writer`` in a transaction
    of its own (:func:`vault.uow.finish`). A browser's read keeps its transaction: its
    session's idle clock is written with it.
    """
    options: dict[str, Any] = {READ_ONLY: True}
    info: dict[str, Any] = {}
    if autocommit:
        options[NO_WRITES] = True
        if engine.dialect.name == "postgresql":
            options["isolation_level"] = "AUTOCOMMIT"
        # SQLite: the driver begins nothing by itself (isolation_level None) and the
        # begin hook sends no BEGIN, so each statement is its own transaction.
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


class DirectReads:
    """Statements that only read, sent on a driver's connection as SQLAlchemy compiled
    them once: a bearer token's lookup, and a consultation's facts.

    The hottest statements of the API cost a few hundred microseconds of SQLAlchemy's
    session, connection and result machinery around a database call of a few dozen; this
    sends each as SQLAlchemy compiled it (once, at first use), with its parameters and
    columns converted by their own types. :meth:`rows` sends it on a connection taken
    once from the engine (its connect hooks ran) and kept by the thread, outside any
    transaction; :meth:`rows_in` sends it on the connection of a session's transaction
    (begun as any of its statements begins it: SQLite's writer turn and ``BEGIN
    IMMEDIATE``), so what it reads is part of that unit of work. Only a ``SELECT`` is
    sent. A failure is raised as SQLAlchemy's, so the request fails as any storage
    failure does (503, nothing done); the thread's own connection is then dropped (the
    next use opens another).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._open: set[Any] = set()  # every thread's connection, for close()
        self._lock = threading.Lock()
        # Called with each statement sent (tests count round trips with the engine's own).
        self.listeners: list[Callable[[str], None]] = []
        self._prepared: dict[Select[Any], _Prepared] = {}

    def _prepare(self, stmt: Select[Any]) -> _Prepared:
        found = self._prepared.get(stmt)
        if found is None:
            found = self._prepared[stmt] = _Prepared(stmt, self._engine.dialect)
        return found

    def _connection(self) -> Any:
        conn: Any = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid != os.getpid():
            conn = None  # a forked child never shares its parent's connection
        if conn is None:
            fairy = self._engine.raw_connection()
            conn = fairy.driver_connection
            fairy.detach()  # the thread's own from now on: it never holds a pool slot
            if self._engine.dialect.name == "postgresql":
                conn.autocommit = True
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._open.add(conn)
        return conn

    def _drop(self, conn: Any) -> None:
        self._local.conn = None
        with self._lock:
            self._open.discard(conn)
        with contextlib.suppress(Exception):
            conn.close()

    def close(self) -> None:
        """Close every thread's connection (the vault is closing)."""
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()

    def rows(self, stmt: Select[Any], params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of ``stmt`` (built once, at import: it is prepared once) with
        ``params``, outside any transaction."""
        prepared = self._prepare(stmt)
        conn = self._connection()
        try:
            return self._run(prepared, conn, params)
        except OperationalError:
            self._drop(conn)
            raise

    def rows_in(
        self, db: Session, stmt: Select[Any], params: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        """The rows of ``stmt`` with ``params``, read in ``db``'s transaction. On
        PostgreSQL, when it is the transaction's first statement, its ``BEGIN`` goes out
        with it in one pipeline: one round trip for both."""
        prepared = self._prepare(stmt)
        conn = db.connection()  # begins the transaction, if it has not begun
        raw = conn.connection.driver_connection
        begin = getattr(conn.dialect, _ENDS_BEGUN, False) and _begin_with_first_statement(raw)
        return self._run(prepared, raw, params, begin=begin)

    def _run(
        self, prepared: _Prepared, conn: Any, params: dict[str, Any], *, begin: bool = False
    ) -> list[tuple[Any, ...]]:
        args = prepared.arguments(params)
        for listener in self.listeners:
            listener(prepared.sql)
        try:
            cursor = conn.cursor()
            try:
                if begin:
                    # Until the transaction ends (_end_begun), psycopg sends no BEGIN of
                    # its own; the results are read once the pipeline's one sync is back.
                    conn.autocommit = True
                    setattr(conn, _BEGUN, True)
                    with conn.pipeline():
                        conn.execute("BEGIN", prepare=False)
                        cursor.execute(prepared.sql, args)
                else:
                    cursor.execute(prepared.sql, args)
                raw = cursor.fetchall()
            finally:
                cursor.close()
        except self._engine.dialect.loaded_dbapi.Error as exc:
            raise OperationalError(prepared.sql, args, exc) from exc
        return prepared.convert(raw)


_REQUIRED = object()  # a parameter the caller must give


class _Prepared:
    """One statement compiled for one dialect, with its parameters' and columns' types."""

    def __init__(self, stmt: Select[Any], dialect: Any) -> None:
        compiled = stmt.compile(dialect=dialect)
        binds = {compiled.bind_names[b]: b for b in compiled.binds.values()}
        # Parameters that are rendered into the statement (a separator) are rendered now,
        # from their own values; the others stay placeholders.
        state = compiled.construct_expanded_state(
            {name: None if b.required else b.effective_value for name, b in binds.items()}
        )
        if not state.statement.lstrip().upper().startswith("SELECT"):
            raise ReadOnlyViolation("direct reads only select")
        self.sql = state.statement
        self.positional = compiled.positional
        if compiled.positional:
            names = list(state.positiontup or ())
        else:
            names = [n for n in binds if f"%({n})s" in self.sql]
        sent = {name: binds[name] for name in names}
        # (name sent, key in the caller's parameters, the statement's own value, type)
        self.binds = [
            (
                name,
                sent[name].key,
                _REQUIRED if sent[name].required else sent[name].effective_value,
                sent[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in names
        ]
        self.processors = [
            col.type.dialect_impl(dialect).result_processor(dialect, None)
            for col in stmt.selected_columns
        ]

    def arguments(self, params: dict[str, Any]) -> Any:
        values = []
        for name, key, own, process in self.binds:
            value = params[key] if own is _REQUIRED else params.get(key, own)
            values.append((name, process(value) if process is not None else value))
        return tuple(v for _, v in values) if self.positional else dict(values)

    def convert(self, raw: list[Any]) -> list[tuple[Any, ...]]:
        processors = self.processors
        return [
            tuple(
                p(value) if p is not None else value
                for p, value in zip(processors, row, strict=True)
            )
            for row in raw
        ]
