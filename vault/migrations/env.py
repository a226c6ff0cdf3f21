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
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
