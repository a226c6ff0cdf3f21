"""Alembic environment: the vault's models plus the audit package's tables."""

from __future__ import annotations

from alembic import context

import vault.models  # noqa: F401 - registers the tables on Base.metadata
from audit import metadata as audit_metadata
from vault.db import Base, make_engine

target_metadata = [Base.metadata, audit_metadata]


def run_migrations_online() -> None:
    """Run against a live connection (the only mode the vault uses)."""
    url = context.config.get_main_option("sqlalchemy.url") or ""
    engine = make_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a SQLite table (copy, drop, rename): with foreign keys
            # enforced, dropping a table that others refer to fails. The pragma only
            # changes outside a transaction, so it is set on the driver's connection
            # before the migration's transaction; the keys are checked before commit.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
    engine.dispose()


run_migrations_online()
