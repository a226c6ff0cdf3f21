"""Fixtures: a fresh audit database per test, on SQLite and on PostgreSQL.

PostgreSQL tests use a schema of their own in the ``test`` database (parallel
runs do not collide). As everywhere in this suite, an unreachable server fails the
run; ``VAULT_TEST_BACKENDS=sqlite`` leaves PostgreSQL out on purpose.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.pool import NullPool

from audit import AuditLog, metadata

PG_URL = os.environ.get(
    "AUDIT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_engine() -> Iterator[sa.Engine]:
    admin = sa.create_engine(PG_URL, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL unreachable at {PG_URL}: {exc}; start it, or set "
            "VAULT_TEST_BACKENDS=sqlite"
        )
    schema = f"audit_test_{secrets.token_hex(6)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = sa.create_engine(
        PG_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=8
    )
    try:
        metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def _sqlite_engine(path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


BACKENDS = [b for b in os.environ.get("VAULT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


@pytest.fixture(
    params=[b if b == "sqlite" else pytest.param(b, marks=pytest.mark.postgres) for b in BACKENDS]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A fresh database with the audit tables, once per backend."""
    if request.param == "sqlite":
        yield from _sqlite_engine(tmp_path / "audit.db")
    else:
        yield from _pg_engine()


@pytest.fixture
def pg_engine() -> Iterator[sa.Engine]:
    """A fresh PostgreSQL schema with the audit tables."""
    yield from _pg_engine()


@pytest.fixture
def mac_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log(mac_key: bytes, signing_key: Ed25519PrivateKey) -> AuditLog:
    """An audit log that can seal and verify; its structlog copy goes nowhere."""
    return AuditLog(
        mac_key,
        signing_key=signing_key,
        logger=structlog.wrap_logger(structlog.ReturnLogger()),
    )
