"""Audit tables (SQLAlchemy Core) and the triggers that make them append-only.

``metadata`` is this package's own; the app's alembic env includes it. Creating
the tables with ``metadata.create_all()`` also installs the append-only
triggers on SQLite and PostgreSQL; a migration runs ``append_only_ddl(dialect)``.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    event,
)

__all__ = [
    "APPEND_ONLY_MESSAGE",
    "append_only_ddl",
    "audit_chain",
    "audit_checkpoints",
    "audit_events",
    "audit_tree",
    "drop_append_only_ddl",
    "metadata",
    "tree_append_only_ddl",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BIGINT on PostgreSQL; INTEGER on SQLite so the key is an alias of the rowid.
_Seq = BigInteger().with_variant(Integer, "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("time", DateTime(timezone=True), nullable=False, index=True),
    Column("action", String(64), nullable=False, index=True),
    Column("actor_person_id", Integer, nullable=True, index=True),
    Column("decision", String(8), nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("resource_record", String(64), nullable=True, index=True),
    Column("resource_client", String(64), nullable=True, index=True),
    Column("body", Text, nullable=False),
    Column("mac", String(64), nullable=False),
    # The MAC key's id and the hash algorithm; NULL on events from before they had them
    # (``file:1`` and ``sha256``).
    Column("mac_key", String(64), nullable=True),
    Column("alg", String(8), nullable=True),
    # One person's events in a time window (the export guard's sliding quota windows).
    Index("ix_audit_events_person_time", "actor_person_id", "time"),
    # AUTOINCREMENT: SQLite never reuses a sequence number, even of a removed tail.
    sqlite_autoincrement=True,
)
"""One row per event: canonical JSON ``body``, its HMAC ``mac`` (hex) under the key
``mac_key`` with the hash ``alg``, and copies of some body fields as indexed columns."""

audit_chain = Table(
    "audit_chain",
    metadata,
    Column("position", _Seq, primary_key=True, autoincrement=False),
    # Not a foreign key: deleting an event must be detectable, not prevented.
    Column("event_seq", BigInteger, nullable=False, unique=True),
    Column("event_id", String(32), nullable=False),
    Column("hash", String(64), nullable=False),
)
"""The hash chain over sealed events, positions 1, 2, 3, ... in seq order.

``hash`` = hex H(previous hash (32 bytes; zeros before position 1)
|| position (8 bytes, big-endian) || event_id (ASCII) || mac (ASCII hex)), H the event's ``alg``.
"""

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", _Seq, primary_key=True, autoincrement=True),
    Column("position", BigInteger, nullable=False, unique=True),
    Column("head_hash", String(64), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("prev_signature", String(128), nullable=True),
    # The tree's hash, the signing key's id and the Merkle tree head over the first
    # ``position`` events; NULL on checkpoints from before the tree (message version 1).
    Column("alg", String(8), nullable=True),
    Column("key_id", String(64), nullable=True),
    Column("root", String(64), nullable=True),
)
"""Ed25519-signed chain heads; see ``audit.checkpoint.checkpoint_message`` for the signed bytes."""

audit_tree = Table(
    "audit_tree",
    metadata,
    Column("alg", String(8), primary_key=True),
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column(
        "idx", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("hash", String(64), nullable=False),
)
"""The complete subtrees of the Merkle tree of algorithm ``alg`` (``audit.merkle``): node
``idx`` of ``level`` covers chain positions ``idx * 2**level + 1 .. (idx + 1) * 2**level``.
Written once by the sealer, never changed; proofs read O(log² n) of them."""

APPEND_ONLY_MESSAGE = "audit log is append-only"
_TABLES = ("audit_events", "audit_chain", "audit_checkpoints")
_PG_FUNCTION = "audit_append_only"
_PG_TREE_FUNCTION = "audit_tree_append_only"


def _sqlite_table_ddl(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
        for verb in ("UPDATE", "DELETE")
    ]


def _pg_function_ddl() -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$"
    )


def _pg_table_ddl(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION}()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()",
    ]


def append_only_ddl(dialect_name: str) -> list[str]:
    """Return the statements that make the three audit tables append-only.

    Args:
        dialect_name: ``"sqlite"`` or ``"postgresql"`` (``engine.dialect.name``).

    Raises:
        ValueError: the dialect is not supported.
    """
    if dialect_name == "sqlite":
        return [s for table in _TABLES for s in _sqlite_table_ddl(table)]
    if dialect_name == "postgresql":
        return [_pg_function_ddl(), *(s for table in _TABLES for s in _pg_table_ddl(table))]
    raise ValueError(f"no append-only triggers for dialect {dialect_name!r}")


def tree_append_only_ddl(dialect_name: str) -> list[str]:
    """The statements that make ``audit_tree`` append-only (its migration runs them).

    On PostgreSQL with a function of its own (``audit_tree_append_only``), so that
    :func:`drop_append_only_ddl` of the three older tables stays as it was.
    """
    if dialect_name == "sqlite":
        return _sqlite_table_ddl("audit_tree")
    if dialect_name == "postgresql":
        return [
            _pg_function_ddl().replace(_PG_FUNCTION, _PG_TREE_FUNCTION),
            *(s.replace(_PG_FUNCTION, _PG_TREE_FUNCTION) for s in _pg_table_ddl("audit_tree")),
        ]
    raise ValueError(f"no append-only triggers for dialect {dialect_name!r}")


def drop_append_only_ddl(dialect_name: str) -> list[str]:
    """Return the statements that remove the append-only triggers (for downgrades and tests).

    Raises:
        ValueError: the dialect is not supported.
    """
    if dialect_name == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_{verb}"
            for table in _TABLES
            for verb in ("update", "delete")
        ]
    if dialect_name == "postgresql":
        return [
            *(
                f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}"
                for table in _TABLES
                for name in ("no_change", "no_truncate")
            ),
            f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()",
        ]
    raise ValueError(f"no append-only triggers for dialect {dialect_name!r}")


def _install_create_hooks() -> None:
    for statement in tree_append_only_ddl("sqlite"):
        event.listen(audit_tree, "after_create", DDL(statement).execute_if(dialect="sqlite"))
    for statement in tree_append_only_ddl("postgresql"):
        event.listen(audit_tree, "after_create", DDL(statement).execute_if(dialect="postgresql"))
    for table in (audit_events, audit_chain, audit_checkpoints):
        for statement in _sqlite_table_ddl(table.name):
            event.listen(table, "after_create", DDL(statement).execute_if(dialect="sqlite"))
        # CREATE OR REPLACE: each table's hook may be the first to need the function.
        for statement in (_pg_function_ddl(), *_pg_table_ddl(table.name)):
            event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))


_install_create_hooks()
