"""Reference routes the HTTP benchmarks (``bench/pipeline_bench.py``, ``bench/consult_bench.py``)
measure the vault's own routes against.

Registered only when ``VAULT_BENCH_BASELINE=1`` (``Config.bench_baseline``); a
production app never has them. None of them audits anything, only ``lean-signed``
authenticates (as every signed-in route does), and each writes only to a table the
benchmark creates (``metadata`` below; no migration knows it):

- ``/bench/bare``: Flask answers a small JSON object; no database.
- ``/bench/baseline/<id>``: through the vault's SQLAlchemy session, read one record's
  row and commit one unaudited insert into ``bench_hits``; answers the record id and the
  size of its ciphertext.
- ``/bench/lean/<id>``: the lean reference of an audited consultation, without the
  vault's layers: psycopg (PostgreSQL) or sqlite3 (SQLite) on one connection per
  worker process, no ORM; ONE statement reads the record's ciphertext and wrapped key
  and inserts a row into ``bench_events``; commit; then one AES-GCM decryption of 4 KiB
  with a key held in memory, whose plaintext it answers.
- ``/bench/lean-signed/<id>``: the lean reference behind the vault's own bearer-token
  check and route gate (as ``/api/v1/me``: one token statement, the gate's policy
  decision): what a consultation would cost if its decision, audit event and key were
  free, the most it can reach of the lean reference.

The lean route does a consultation's crypto work, not its release: record content
leaves through :mod:`vault.access` alone (after decision and audit), and these routes
never use the vault's keyring. What the lean route decrypts is its own 4 KiB of text,
sealed under a random key when its worker first needs it; of the record it answers
only the id and the size of the ciphertext it read.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Blueprint, Response, jsonify, request
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert, select
from sqlalchemy.engine import make_url

from vault.db import utcnow
from vault.errors import NotFound
from vault.models import Record
from vault.policy import Action
from vault.web.context import db, vault
from vault.web.routing import route

bp = Blueprint("bench", __name__, url_prefix="/bench")

# Kept apart from the models' metadata: migrations and the vault's schema never see it.
metadata = MetaData()
hits = Table(
    "bench_hits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("record_id", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
events = Table(
    "bench_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("record_id", Integer, nullable=False),
    Column("purpose", String(500), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# One statement: read the record, insert the event only if it exists, return both.
LEAN_POSTGRESQL = """
WITH r AS (
    SELECT id, content_ct, wrapped_dek FROM records WHERE id = %s
), e AS (
    INSERT INTO bench_events (record_id, purpose, at)
    SELECT id, %s, now() FROM r
    RETURNING id
)
SELECT e.id, r.content_ct, r.wrapped_dek FROM r, e
"""
# SQLite has no data-modifying CTE; its RETURNING may read the record in subqueries.
LEAN_SQLITE = """
INSERT INTO bench_events (record_id, purpose, at)
SELECT id, ?, ? FROM records WHERE id = ?
RETURNING id,
    (SELECT content_ct FROM records WHERE id = record_id),
    (SELECT wrapped_dek FROM records WHERE id = record_id)
"""

LEAN_AAD = b"bench:lean"

_local = threading.local()


@route(bp, "/bare", action=Action.PUBLIC, public=True, summary="Benchmark: bare JSON, no database")
def bare() -> Response:
    return jsonify(ok=True, service="archive-vault")


@route(
    bp,
    "/baseline/<int:record_id>",
    action=Action.PUBLIC,
    public=True,
    writes=True,
    summary="Benchmark baseline: read one row, commit one unaudited insert",
)
def baseline(record_id: int) -> Response:
    session = db()
    row = session.execute(
        select(Record.id, Record.content_ct).where(Record.id == record_id)
    ).first()
    if row is None:
        raise NotFound("no such record", code="record_not_found")
    session.execute(insert(hits).values(record_id=record_id, at=utcnow()))
    return jsonify(record=row.id, ciphertext_bytes=len(row.content_ct))


@route(
    bp,
    "/lean/<int:record_id>",
    action=Action.PUBLIC,
    public=True,
    summary="Benchmark reference: one statement (read + event), commit, decrypt 4 KiB",
)
def lean(record_id: int) -> Response:
    return _lean(record_id)


@route(
    bp,
    "/lean-signed/<int:record_id>",
    action=Action.PROFILE_READ,
    summary="Benchmark reference: the lean route behind the token check and route gate",
)
def lean_signed(record_id: int) -> Response:
    return _lean(record_id)


def _lean(record_id: int) -> Response:
    purpose = request.args.get("purpose", "")[:500]
    conn = _connection()
    try:
        if isinstance(conn, sqlite3.Connection):
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute(LEAN_SQLITE, (purpose, _now(), record_id)).fetchall()
            conn.execute("COMMIT")
        else:
            rows = conn.execute(LEAN_POSTGRESQL, (record_id, purpose)).fetchall()
            conn.commit()
    except BaseException:
        conn.rollback()
        raise
    if not rows:
        raise NotFound("no such record", code="record_not_found")
    event_id, ciphertext, wrapped = rows[0]
    key, nonce, sealed = _sealed_block()
    text = AESGCM(key).decrypt(nonce, sealed, LEAN_AAD)
    return jsonify(
        record=record_id,
        event_id=event_id,
        ciphertext_bytes=len(ciphertext) + len(wrapped),
        text=text.decode(),
    )


def _sealed_block() -> tuple[bytes, bytes, bytes]:
    """This process's key, nonce and 4 KiB of text sealed under them (made once)."""
    block = getattr(_local, "block", None)
    if block is None or block[0] != os.getpid():
        key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
        text = (b"lean reference: 4 KiB of bench text, never a record's content. " * 70)[:4096]
        block = _local.block = (os.getpid(), key, nonce, AESGCM(key).encrypt(nonce, text, LEAN_AAD))
    return block[1], block[2], block[3]


def _now() -> str:
    """The time now as SQLAlchemy stores a ``DateTime`` on SQLite."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _connection() -> Any:
    """This worker process's (and thread's) own connection to the vault's database."""
    key = (os.getpid(), vault().config.database_url)
    if getattr(_local, "key", None) != key:
        old = getattr(_local, "conn", None)
        if old is not None and _local.key[0] == key[0]:
            old.close()  # another app in this process (tests): one connection at a time
        _local.conn, _local.key = _connect(key[1]), key
    return _local.conn


def _connect(database_url: str) -> sqlite3.Connection | psycopg.Connection[Any]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        # As vault.db tunes its SQLite connections; transactions are begun explicitly.
        conn = sqlite3.connect(url.database or "", isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=10000",
        ):
            conn.execute(f"PRAGMA {pragma}")
        return conn
    return psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
