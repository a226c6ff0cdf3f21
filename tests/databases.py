"""Test databases: an empty one per test, migrated by copying a template when asked.

Running every migration for every test cost a third of the suite. Each worker migrates
one template per backend (with the real migrations, once); :func:`upgrade` then gives a
test's still-empty database a copy of it: SQLite through the backup API, PostgreSQL by
``CREATE DATABASE ... TEMPLATE`` (WAL_LOG strategy: tens of milliseconds). A database
that is not empty any more is migrated for real, as ``archive-vault init`` would.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from vault import migrations

PG_URL = os.environ.get("VAULT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_lock = threading.Lock()
_templates: dict[str, str] = {}  # backend -> the migrated template (a path or a name)
_fresh: set[str] = set()  # URLs made by `empty` and not written to by `upgrade` since
_at_head: set[str] = set()  # URLs made by `migrated` (PostgreSQL) not yet given to `upgrade`
_admin: sa.Engine | None = None
scratch: Path = Path(".")  # where SQLite's template is made (the session's temp directory)


def admin() -> sa.Engine:
    """An autocommit engine on the PostgreSQL server's test database. Its commits do not
    wait for the WAL to reach the disk (a database made from the template: 19 ms instead
    of 49 ms)."""
    global _admin
    if _admin is None:
        _admin = _admin_engine()
    return _admin


def _admin_engine() -> sa.Engine:
    url = sa.make_url(PG_URL).update_query_dict({"options": "-csynchronous_commit=off"})
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)


def pg_url(database: str) -> str:
    """A URL to ``database``. Its commits do not wait for the WAL to reach the disk
    (``synchronous_commit=off``): what a test sees is the same, a crash of the server would
    lose the last commits of a throwaway database, and a commit costs no disk flush."""
    url = sa.make_url(PG_URL).set(database=database)
    url = url.update_query_dict({"options": "-csynchronous_commit=off"})
    return url.render_as_string(hide_password=False)


def empty(backend: str, directory: Path) -> str:
    """The URL of a new empty database of ``backend`` (SQLite: a file not yet made)."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'vault.db'}"
    else:
        name = f"vt_{uuid.uuid4().hex[:16]}"
        with admin().connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY WAL_LOG'))
        url = pg_url(name)
    _fresh.add(url)
    return url


def migrated(backend: str, directory: Path) -> str:
    """The URL of a new database at the migrations' head, for :func:`upgrade` to leave as
    it is: on PostgreSQL a copy of the migrated template, made in one statement (an empty
    database first, then a look inside it, a drop and the copy cost four); on SQLite a
    file not yet made, as :func:`empty` gives, which :func:`upgrade` fills with a copy."""
    if backend == "sqlite":
        return empty(backend, directory)
    name = f"vt_{uuid.uuid4().hex[:16]}"
    template = _template("postgresql")
    with admin().connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY WAL_LOG'))
    url = pg_url(name)
    _at_head.add(url)
    return url


def drop(url: str) -> None:
    """Drop a PostgreSQL database made by :func:`empty` or :func:`migrated` (its sessions
    are ended first), in the background: a DROP DATABASE waits about 80 ms for the
    server, while the next test runs. :func:`wait_for_drops` (at the end of the session,
    :func:`drop_templates`) waits for every drop."""
    _fresh.discard(url)
    _at_head.discard(url)
    if url.startswith("postgresql"):
        _dropper().put(sa.make_url(url).database or "")


_drops: queue.Queue[str | None] | None = None
_drop_thread: threading.Thread | None = None


def _dropper() -> queue.Queue[str | None]:
    global _drops, _drop_thread
    with _lock:
        if _drops is None:
            _drops = queue.Queue()
            _drop_thread = threading.Thread(
                target=_drop_each, args=(_drops,), name="drop-databases", daemon=True
            )
            _drop_thread.start()
        return _drops


_drop_failures: list[str] = []


def _drop_each(drops: queue.Queue[str | None]) -> None:
    engine = _admin_engine()  # its own connection: the tests' thread keeps admin()'s
    try:
        while (name := drops.get()) is not None:
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except sa.exc.SQLAlchemyError as exc:
                _drop_failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
    finally:
        engine.dispose()


def wait_for_drops() -> None:
    """Wait for the background drops to end; raise if any failed (a database was left)."""
    global _drops, _drop_thread
    with _lock:
        drops, thread, _drops, _drop_thread = _drops, _drop_thread, None, None
    if drops is not None and thread is not None:
        drops.put(None)
        thread.join()
    if _drop_failures:
        failures = list(_drop_failures)
        _drop_failures.clear()
        raise RuntimeError(f"test databases left on the server: {failures}")


def _template(backend: str) -> str:
    with _lock:
        if backend not in _templates:
            if backend == "sqlite":
                path = scratch / f"template-{uuid.uuid4().hex[:8]}.db"
                migrations.upgrade(f"sqlite:///{path}")
                _templates[backend] = str(path)
            else:
                name = f"vt_template_{uuid.uuid4().hex[:12]}"
                with admin().connect() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
                migrations.upgrade(pg_url(name))
                _templates[backend] = name
        return _templates[backend]


def drop_templates() -> None:
    """At the end of the session: the drops under way end, then the PostgreSQL template
    goes (SQLite's is a temp file)."""
    wait_for_drops()
    name = _templates.pop("postgresql", None)
    if name is not None:
        with admin().connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    if _admin is not None:
        _admin.dispose()


def upgrade(url: str) -> None:
    """Migrate the database at ``url`` to the head: a copy of the template if it is still
    the empty database :func:`empty` made, nothing the first time for one :func:`migrated`
    made, the real migrations otherwise."""
    if url in _at_head:
        _at_head.discard(url)
        return
    if url not in _fresh:
        migrations.upgrade(url)
        return
    _fresh.discard(url)
    if url.startswith("sqlite"):
        target = Path(sa.make_url(url).database or "")
        if target.exists():
            migrations.upgrade(url)
            return
        source, copy = sqlite3.connect(_template("sqlite")), sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return
    look = sa.create_engine(url, poolclass=NullPool)
    try:
        with look.connect() as conn:
            tables = conn.scalar(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            )
    finally:
        look.dispose()
    if tables:
        migrations.upgrade(url)
        return
    name = sa.make_url(url).database
    template = _template("postgresql")
    with admin().connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY WAL_LOG'))
