"""Test databases: an empty one per test, migrated by copying a template when asked.

Running every migration for every test cost a third of the suite. Each worker migrates
one template per backend (with the real migrations, once); :func:`upgrade` then gives a
test's still-empty database a copy of it: SQLite through the backup API, PostgreSQL by
``CREATE DATABASE ... TEMPLATE`` (WAL_LOG strategy). A database that is not empty any
more is migrated for real, as ``archive-vault init`` would.

On PostgreSQL a copy and its drop cost about half a second of the server's (2 CPUs,
2026-12-03), more than most tests themselves. So a database at the head that a test is
done with is emptied and given to a later test of the same worker, if its schema is
still the template's to the last trigger, grant and setting (:func:`_fingerprint`); one
that a test changed is dropped. Emptied means every row gone but the alembic version,
every sequence back at its start, no large object left.
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
_reusable: set[str] = set()  # URLs made by `migrated` (PostgreSQL), emptied again when done
_emptied: list[str] = []  # names of databases at the head, emptied, for `migrated` to give
_template_print: dict[str, str] = {}  # the template's name -> its schema's fingerprint
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
    template = _template("postgresql")
    with _lock:
        name = _emptied.pop() if _emptied else ""
    if not name:
        name = f"vt_{uuid.uuid4().hex[:16]}"
        with admin().connect() as conn:
            conn.execute(
                sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY WAL_LOG')
            )
    url = pg_url(name)
    _at_head.add(url)
    _reusable.add(url)
    return url


def drop(url: str) -> None:
    """Drop a PostgreSQL database made by :func:`empty` or :func:`migrated` (its sessions
    are ended first), in the background: a DROP DATABASE waits about 80 ms for the
    server, while the next test runs. :func:`wait_for_drops` (at the end of the session,
    :func:`drop_templates`) waits for every drop."""
    _fresh.discard(url)
    _at_head.discard(url)
    if url.startswith("postgresql"):
        reuse = url in _reusable
        _reusable.discard(url)
        _dropper().put((sa.make_url(url).database or "", reuse))


_drops: queue.Queue[tuple[str, bool] | None] | None = None
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


def _drop_each(drops: queue.Queue[tuple[str, bool] | None]) -> None:
    engine = _admin_engine()  # its own connection: the tests' thread keeps admin()'s
    try:
        while (item := drops.get()) is not None:
            name, reuse = item
            try:
                if reuse and _empty_again(engine, name):
                    with _lock:
                        _emptied.append(name)
                    continue
                with engine.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except sa.exc.SQLAlchemyError as exc:
                _drop_failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
    finally:
        engine.dispose()


def _empty_again(admin_engine: sa.Engine, name: str) -> bool:
    """Empty the database ``name`` for another test, if its schema is the template's
    (False: it is not, or emptying failed; the caller drops it). Its sessions are ended
    first, so nothing of the test that used it is still at work in it."""
    with admin_engine.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    expected = _template_print.get(_templates.get("postgresql", ""))
    engine = sa.create_engine(pg_url(name), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            if expected is None or _fingerprint(conn) != expected:
                return False
            # The audit tables' append-only triggers (and the foreign keys' own) do not
            # fire for a replica's session: every row goes, as DROP DATABASE would.
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            tables = conn.execute(
                sa.text(
                    "SELECT quote_ident(tablename) FROM pg_tables"
                    " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            ).scalars()
            conn.exec_driver_sql("; ".join(f"DELETE FROM {t}" for t in tables))
            conn.execute(sa.text("SELECT setval(seqrelid, seqstart, false) FROM pg_sequence"))
            conn.execute(sa.text("SELECT lo_unlink(oid) FROM pg_largeobject_metadata"))
        return True
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


# What a test could change in a database besides its rows: relations, columns, indexes,
# constraints, triggers (and whether they are enabled), functions, rules, row security,
# grants, schemas, extensions, the database's settings and the alembic version.
_FINGERPRINT = """
SELECT md5(string_agg(item, E'\n' ORDER BY item)) FROM (
  SELECT format('class %s.%s %s %s %s %s %s %s', n.nspname, c.relname, c.relkind,
                c.relpersistence, c.relrowsecurity, c.relforcerowsecurity, c.relacl,
                c.reloptions) AS item
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT format('column %s %s %s %s %s %s %s %s', a.attrelid::regclass, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
                a.attgenerated, a.attacl, pg_get_expr(d.adbin, d.adrelid))
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT format('index %s', pg_get_indexdef(i.indexrelid)) FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT format('constraint %s %s %s', conrelid::regclass, conname,
                pg_get_constraintdef(oid)) FROM pg_constraint
  WHERE connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  UNION ALL
  SELECT format('trigger %s %s', tgenabled, pg_get_triggerdef(oid)) FROM pg_trigger
  UNION ALL
  SELECT format('function %s %s %s %s', p.oid::regprocedure, md5(p.prosrc), p.proacl,
                p.prosecdef) FROM pg_proc p
  WHERE p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  UNION ALL
  SELECT format('rule %s', pg_get_ruledef(r.oid)) FROM pg_rewrite r
  JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  UNION ALL
  SELECT format('policy %s %s', polrelid::regclass, polname) FROM pg_policy
  UNION ALL
  SELECT format('schema %s %s', nspname, nspacl) FROM pg_namespace
  UNION ALL
  SELECT format('extension %s %s', extname, extversion) FROM pg_extension
  UNION ALL
  SELECT format('event trigger %s %s', evtname, evtenabled) FROM pg_event_trigger
  UNION ALL
  SELECT format('setting %s %s', setrole, setconfig) FROM pg_db_role_setting
  WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL
  SELECT format('database %s %s', datacl, datallowconn) FROM pg_database
  WHERE datname = current_database()
  UNION ALL
  SELECT format('alembic %s', version_num) FROM alembic_version
) AS schema
"""


def _fingerprint(conn: sa.Connection) -> str:
    """The digest of everything in the database but its rows (``_FINGERPRINT``)."""
    return str(conn.execute(sa.text(_FINGERPRINT)).scalar_one())


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
                look = sa.create_engine(pg_url(name), poolclass=NullPool)
                try:
                    with look.connect() as conn:
                        _template_print[name] = _fingerprint(conn)
                finally:
                    look.dispose()  # (a template is copied only with no one connected)
                _templates[backend] = name
        return _templates[backend]


def drop_templates() -> None:
    """At the end of the session: the drops under way end, then the PostgreSQL template
    goes (SQLite's is a temp file)."""
    wait_for_drops()
    with _lock:
        emptied = list(_emptied)
        _emptied.clear()
    name = _templates.pop("postgresql", None)
    for database in [*emptied, *([name] if name is not None else [])]:
        with admin().connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
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
