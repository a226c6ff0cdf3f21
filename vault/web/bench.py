"""The baseline route ``bench/consult_bench.py`` measures consultations against.

Registered only when ``VAULT_BENCH_BASELINE=1`` (``Config.bench_baseline``); a
production app never has it. It does the storage work of a request and nothing of
the vault's own: read one record's row and commit one unaudited insert into
``bench_hits``, a table the benchmark creates (no migration knows it). It releases
no content: it answers with the record id and the size of its ciphertext.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert, select

from vault.db import utcnow
from vault.errors import NotFound
from vault.models import Record
from vault.policy import Action
from vault.web.context import db
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


@route(
    bp,
    "/baseline/<int:record_id>",
    action=Action.PUBLIC,
    public=True,
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
