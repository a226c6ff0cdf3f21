"""Shared fixtures: a fresh vault per test on each database backend.

Backends come from ``VAULT_TEST_BACKENDS`` (default ``sqlite,postgresql``). A backend
that is asked for and unreachable fails the run: a missing service is never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from vault.config import Config

PG_URL = os.environ.get("VAULT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [b for b in os.environ.get("VAULT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, scope="session")


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """An engine on the PostgreSQL test database, used to make and drop schemas."""
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL}: {exc.__class__.__name__}. "
            "Start it, or set VAULT_TEST_BACKENDS=sqlite to test SQLite only."
        )
    yield engine
    engine.dispose()


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL to an empty database of the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'vault.db'}"
        return
    admin: sa.Engine = request.getfixturevalue("pg_admin")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    """Settings for a vault living in ``tmp_path``."""
    return Config(
        home=tmp_path / "var",
        database_url=db_url,
        testing=True,
        secret_key="test-secret",
        seal_interval_s=0.0,
        seal_in_background=False,
    )
