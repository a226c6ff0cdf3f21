"""AuditLog: keys, append in the caller's transaction, emit, seal in batches, verify."""

from __future__ import annotations

import copy
import io
import itertools
import json
import pickle
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import (
    AuditLog,
    audit_chain,
    audit_checkpoints,
    audit_events,
    canonical_json,
    chain_hash,
    checkpoint_message,
)
from tests.unit.audit.helpers import append_events, insert_raw, make_event, utc


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def _seal(engine: sa.Engine, log: AuditLog, **kwargs: object) -> int:
    with engine.connect() as conn:
        return log.seal(conn, **kwargs)  # type: ignore[arg-type]


def _verify(engine: sa.Engine, log: AuditLog):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return log.verify(conn)


# --- keys -------------------------------------------------------------------------


def test_known_answer_chain_hash_and_checkpoint_message() -> None:
    assert chain_hash(bytes(32), 1, "0" * 32, "f" * 64).hex() == (
        "a94c9163ed12d356b358d2ccbe477b0e19ead53e9fb73a7e8b49340464339b68"
    )
    message = checkpoint_message(2, "ab" * 32, datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None)
    assert message == (
        b"archive-vault/audit-checkpoint/v1\n"
        b'{"head_hash":"' + b"ab" * 32 + b'","position":2,"prev_signature":null,'
        b'"time":"2025-01-02T03:04:05.000006Z"}'
    )


@pytest.mark.parametrize(
    ("key", "error"), [("k" * 32, TypeError), (bytearray(32), TypeError), (b"k" * 31, ValueError)]
)
def test_mac_key_type_and_length_are_checked(key: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        AuditLog(key)  # type: ignore[arg-type]


def test_signing_and_verify_keys_are_checked(
    mac_key: bytes, signing_key: Ed25519PrivateKey
) -> None:
    with pytest.raises(TypeError):
        AuditLog(mac_key, signing_key=b"x" * 32)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AuditLog(mac_key, verify_key=signing_key)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not match"):
        AuditLog(
            mac_key,
            signing_key=signing_key,
            verify_key=Ed25519PrivateKey.generate().public_key(),
        )


def test_keys_stay_hidden(mac_key: bytes, log: AuditLog) -> None:
    assert mac_key.hex() not in repr(log) and repr(mac_key) not in repr(log)
    assert "hidden" in repr(log)
    with pytest.raises(TypeError):
        pickle.dumps(log)
    with pytest.raises(TypeError):
        copy.copy(log)


def test_sealing_needs_the_signing_key_and_verifying_the_verify_key(
    engine: sa.Engine, mac_key: bytes, signing_key: Ed25519PrivateKey, log: AuditLog
) -> None:
    append_events(engine, log, 2)
    with engine.connect() as conn:
        with pytest.raises(ValueError, match="signing key"):
            AuditLog(mac_key, verify_key=signing_key.public_key()).seal(conn)
        with pytest.raises(ValueError, match="verify key"):
            AuditLog(mac_key).verify(conn)
        assert log.seal(conn) == 2
        # An auditor's copy needs only the public key to verify.
        report = AuditLog(mac_key, verify_key=signing_key.public_key()).verify(conn)
    assert report.ok and report.sealed == 2


# --- append ------------------------------------------------------------------------


def test_append_stores_body_mac_and_index_columns(engine: sa.Engine, log: AuditLog) -> None:
    event = make_event(4)
    with engine.begin() as conn:
        seq = log.append(conn, event)
    with engine.connect() as conn:
        row = conn.execute(sa.select(audit_events).where(audit_events.c.seq == seq)).one()
    assert row.body == canonical_json(event).decode("ascii")
    assert (row.event_id, row.action, row.actor_person_id) == (event.id, "record:consult", 4)
    assert (row.resource_record, row.resource_client) == ("104", "1")
    assert (row.decision, row.outcome) == ("allow", "ok")
    assert len(row.mac) == 64


def test_append_returns_increasing_seqs(engine: sa.Engine, log: AuditLog) -> None:
    with engine.begin() as conn:
        seqs = [log.append(conn, make_event(n)) for n in range(5)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


def test_append_does_not_commit_a_rolled_back_act(engine: sa.Engine, log: AuditLog) -> None:
    """Fail closed: the event lives and dies with the caller's transaction."""
    kept, dropped, later = make_event(1), make_event(2), make_event(3)
    with engine.begin() as conn:
        log.append(conn, kept)
    with engine.connect() as conn, conn.begin() as transaction:
        log.append(conn, dropped)
        transaction.rollback()
    with engine.begin() as conn:
        log.append(conn, later)
    with engine.connect() as conn:
        ids = set(conn.scalars(sa.select(audit_events.c.event_id)))
    assert ids == {kept.id, later.id}
    # On PostgreSQL the rolled-back insert used up a seq: a permanent gap.
    assert _seal(engine, log, gap_grace=0) == 2
    report = _verify(engine, log)
    assert report.ok and report.sealed == 2, report


def test_append_errors_propagate(engine: sa.Engine, log: AuditLog) -> None:
    event = make_event()
    with engine.begin() as conn:
        log.append(conn, event)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        log.append(conn, event)


# --- emit --------------------------------------------------------------------------


def test_emit_writes_one_json_line_with_every_field(mac_key: bytes) -> None:
    out = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(out), processors=[structlog.processors.JSONRenderer()]
    )
    event = make_event(9, purpose="审计")
    AuditLog(mac_key, logger=logger).emit(event, seq=42)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line.pop("event") == "audit.event"
    assert line.pop("seq") == 42
    assert line == json.loads(canonical_json(event))


def test_emit_defaults_to_the_audit_logger(mac_key: bytes) -> None:
    event = make_event()
    with structlog.testing.capture_logs() as logs:
        AuditLog(mac_key).emit(event)
    assert [(entry["event"], entry["id"]) for entry in logs] == [("audit.event", event.id)]


# --- seal --------------------------------------------------------------------------


def test_append_seal_verify(engine: sa.Engine, log: AuditLog) -> None:
    append_events(engine, log, 5)
    assert _seal(engine, log) == 5
    assert _seal(engine, log) == 0
    report = _verify(engine, log)
    assert report.ok, report
    assert (report.events, report.sealed, report.unsealed, report.checkpoints) == (5, 5, 0, 1)
    assert report.problem is None and report.first_bad_seq is None


def test_seal_links_in_seq_order_with_a_checkpoint_per_batch(
    engine: sa.Engine, log: AuditLog, signing_key: Ed25519PrivateKey
) -> None:
    append_events(engine, log, 5)
    assert _seal(engine, log, batch=2, max_batches=1) == 2
    assert _seal(engine, log, batch=2) == 3
    with engine.connect() as conn:
        chain = conn.execute(sa.select(audit_chain).order_by(audit_chain.c.position)).all()
        events = conn.execute(sa.select(audit_events).order_by(audit_events.c.seq)).all()
        checkpoints = conn.execute(
            sa.select(audit_checkpoints).order_by(audit_checkpoints.c.position)
        ).all()
    assert [c.position for c in chain] == [1, 2, 3, 4, 5]
    assert [c.event_seq for c in chain] == [e.seq for e in events]
    head = bytes(32)
    for link, event in zip(chain, events, strict=True):
        head = chain_hash(head, link.position, event.event_id, event.mac)
        assert link.hash == head.hex()
    assert [c.position for c in checkpoints] == [2, 4, 5]
    assert checkpoints[0].prev_signature is None
    for previous, checkpoint in itertools.pairwise(checkpoints):
        assert checkpoint.prev_signature == previous.signature
    last = checkpoints[-1]
    assert last.head_hash == chain[-1].hash
    signing_key.public_key().verify(
        bytes.fromhex(last.signature),
        checkpoint_message(
            5,
            last.head_hash,
            utc(last.time),
            last.prev_signature,
            alg=last.alg,
            key=last.key_id,
            root=last.root,
        ),
    )
    report = _verify(engine, log)
    assert report.ok and report.checkpoints == 3, report


def test_seal_commits_its_own_batches(engine: sa.Engine, log: AuditLog) -> None:
    append_events(engine, log, 1)
    with engine.connect() as conn:
        conn.execute(sa.select(1))
        with pytest.raises(ValueError, match="outside a transaction"):
            log.seal(conn)


@pytest.mark.parametrize("kwargs", [{"batch": 0}, {"max_batches": 0}, {"gap_grace": -1}])
def test_seal_arguments_are_checked(engine: sa.Engine, log: AuditLog, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        _seal(engine, log, **kwargs)


def test_seal_waits_at_a_fresh_gap_and_skips_an_old_one(
    engine: sa.Engine, log: AuditLog, mac_key: bytes
) -> None:
    """Seq 2 may belong to a transaction still in flight until gap_grace has passed."""
    append_events(engine, log, 1)
    with engine.begin() as conn:
        insert_raw(conn, make_event(3), seq=3, mac_key=mac_key)
    assert _seal(engine, log, gap_grace=30) == 1  # seq 1, then it waits at seq 2
    assert _verify(engine, log).unsealed == 1
    assert _seal(engine, log, gap_grace=0) == 1
    # A gap followed by an event older than the grace period is skipped at once.
    old = make_event(6, time=datetime.now(UTC) - timedelta(minutes=5))
    with engine.begin() as conn:
        insert_raw(conn, old, seq=6, mac_key=mac_key)
    assert _seal(engine, log, gap_grace=30) == 1
    report = _verify(engine, log)
    assert report.ok and (report.sealed, report.unsealed) == (3, 0), report


def test_unsealed_tail_is_checked_and_counted(engine: sa.Engine, log: AuditLog) -> None:
    append_events(engine, log, 3)
    _seal(engine, log)
    append_events(engine, log, 2, start=4)
    report = _verify(engine, log)
    assert report.ok and (report.events, report.sealed, report.unsealed) == (5, 3, 2), report


def test_empty_log_verifies(engine: sa.Engine, log: AuditLog) -> None:
    report = _verify(engine, log)
    assert report.ok and report.events == 0 and report.checkpoints == 0


# --- verify ------------------------------------------------------------------------


def test_verify_reports_progress_in_increments(engine: sa.Engine, log: AuditLog) -> None:
    append_events(engine, log, 4)
    _seal(engine, log, batch=2, max_batches=1)
    steps: list[int] = []
    with engine.connect() as conn:
        report = log.verify(conn, progress=steps.append)
    assert report.ok and sum(steps) == 4 and all(step > 0 for step in steps)


def test_verify_leaves_no_transaction_behind(engine: sa.Engine, log: AuditLog) -> None:
    append_events(engine, log, 2)
    with engine.connect() as conn:
        log.seal(conn)
        assert log.verify(conn).ok
        assert not conn.in_transaction()


def test_verify_with_the_wrong_keys_fails(
    engine: sa.Engine, log: AuditLog, mac_key: bytes, signing_key: Ed25519PrivateKey
) -> None:
    first = append_events(engine, log, 2)[0]
    _seal(engine, log)
    other_mac = AuditLog(b"x" * 32, verify_key=signing_key.public_key())
    report = _verify(engine, other_mac)
    assert (report.ok, report.problem, report.first_bad_event_id) == (
        False,
        "mac_mismatch",
        first.id,
    )
    other_signer = AuditLog(mac_key, signing_key=Ed25519PrivateKey.generate())
    assert _verify(engine, other_signer).problem == "bad_signature"
