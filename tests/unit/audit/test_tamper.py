"""Invariant 5: verify finds every kind of tampering and names the first bad event.

The attacker here is a database administrator: they drop the append-only
triggers and edit rows at will, but hold neither the MAC key nor the signing key
(except where a test says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import (
    AuditLog,
    Event,
    VerifyReport,
    audit_chain,
    audit_checkpoints,
    audit_events,
    chain_hash,
    checkpoint_message,
)
from tests.unit.audit.helpers import append_events, as_db_admin, insert_raw, make_event, utc

E = audit_events.c
C = audit_chain.c
K = audit_checkpoints.c


@dataclass
class Sealed:
    """Six events at seq 1..6, sealed in two batches: checkpoints at positions 3 and 6."""

    engine: sa.Engine
    log: AuditLog
    events: list[Event]

    def verify(self) -> VerifyReport:
        with self.engine.connect() as conn:
            return self.log.verify(conn)

    def event(self, seq: int) -> Event:
        return self.events[seq - 1]


@pytest.fixture
def sealed(engine: sa.Engine, log: AuditLog) -> Sealed:
    events = append_events(engine, log, 6)
    with engine.connect() as conn:
        assert conn.scalars(sa.select(E.seq).order_by(E.seq)).all() == [1, 2, 3, 4, 5, 6]
        conn.rollback()
        assert log.seal(conn, batch=3) == 6
    state = Sealed(engine, log, events)
    assert state.verify().ok
    return state


def assert_names(
    report: VerifyReport,
    problem: str,
    seq: int | None,
    event_id: str | None,
    position: int | None = None,
) -> None:
    assert not report.ok
    assert (report.problem, report.first_bad_seq, report.first_bad_event_id) == (
        problem,
        seq,
        event_id,
    ), report
    if position is not None:
        assert report.first_bad_position == position, report
    assert report.message


# --- changed -----------------------------------------------------------------------


def test_changed_body_is_a_mac_mismatch_naming_the_event(sealed: Sealed) -> None:
    with as_db_admin(sealed.engine) as conn:
        conn.execute(
            sa.update(audit_events)
            .where(E.seq == 3)
            .values(body=sa.func.replace(E.body, '"decision":"allow"', '"decision":"deny"'))
        )
    assert_names(sealed.verify(), "mac_mismatch", 3, sealed.event(3).id, position=3)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("action", "record:copy"),
        ("actor_person_id", 99),
        ("resource_record", "999"),
        ("resource_client", "999"),
        ("decision", "deny"),
        ("outcome", "error"),
        ("event_id", "f" * 32),
        ("time", None),
    ],
)
def test_changed_index_column_is_a_column_mismatch(
    sealed: Sealed, column: str, value: object
) -> None:
    if column == "time":
        value = sealed.event(3).time + timedelta(seconds=1)
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.update(audit_events).where(E.seq == 3).values({column: value}))
    report = sealed.verify()
    expected_id = "f" * 32 if column == "event_id" else sealed.event(3).id
    assert_names(report, "column_mismatch", 3, expected_id, position=3)


def test_changed_unsealed_event_is_caught_too(sealed: Sealed) -> None:
    (late,) = append_events(sealed.engine, sealed.log, 1, start=7)
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.update(audit_events).where(E.seq == 7).values(actor_person_id=1))
    assert_names(sealed.verify(), "column_mismatch", 7, late.id)
    with as_db_admin(sealed.engine) as conn:
        conn.execute(
            sa.update(audit_events)
            .where(E.seq == 7)
            .values(body=sa.func.replace(E.body, "reason 7", "reason 8"))
        )
    assert_names(sealed.verify(), "mac_mismatch", 7, late.id)


def test_changed_chain_hash_is_a_chain_mismatch(sealed: Sealed) -> None:
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.update(audit_chain).where(C.position == 4).values(hash="0" * 64))
    assert_names(sealed.verify(), "chain_mismatch", 4, sealed.event(4).id, position=4)


# --- deleted -----------------------------------------------------------------------


def test_deleted_event_is_named_by_its_chain_link(sealed: Sealed) -> None:
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.delete(audit_events).where(E.seq == 3))
    assert_names(sealed.verify(), "deleted", 3, sealed.event(3).id, position=3)


def test_deleted_event_and_its_chain_link_leave_a_missing_position(sealed: Sealed) -> None:
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.delete(audit_events).where(E.seq == 3))
        conn.execute(sa.delete(audit_chain).where(C.position == 3))
    assert_names(sealed.verify(), "deleted", None, None, position=3)


def test_deleted_chain_link_names_the_event_left_behind(sealed: Sealed) -> None:
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.delete(audit_chain).where(C.position == 3))
    assert_names(sealed.verify(), "deleted", 3, sealed.event(3).id, position=3)


def test_rewritten_chain_after_a_deletion_breaks_the_signed_checkpoint(sealed: Sealed) -> None:
    """The chain hash is unkeyed; the signed checkpoints are what pin it down."""
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.delete(audit_events).where(E.seq == 3))
        conn.execute(sa.delete(audit_chain).where(C.position >= 3))
        head = bytes.fromhex(conn.scalar(sa.select(C.hash).where(C.position == 2)) or "")
        rows = conn.execute(sa.select(E.seq, E.event_id, E.mac).where(E.seq > 2).order_by(E.seq))
        for position, (seq, event_id, mac) in enumerate(rows.all(), start=3):
            head = chain_hash(head, position, event_id, mac)
            conn.execute(
                sa.insert(audit_chain).values(
                    position=position, event_seq=seq, event_id=event_id, hash=head.hex()
                )
            )
    assert_names(sealed.verify(), "checkpoint_mismatch", 4, sealed.event(4).id, position=3)


# --- inserted ----------------------------------------------------------------------


@pytest.fixture
def gapped(engine: sa.Engine, log: AuditLog, mac_key: bytes) -> Sealed:
    """Events at seq 1, 2, 3 and 5, all sealed: seq 4 was a rolled-back transaction."""
    events = append_events(engine, log, 3)
    fifth = make_event(5)
    with engine.begin() as conn:
        insert_raw(conn, fifth, seq=5, mac_key=mac_key)
    with engine.connect() as conn:
        assert log.seal(conn, gap_grace=0) == 4
    state = Sealed(engine, log, [*events, make_event(4), fifth])
    assert state.verify().ok
    return state


def test_inserted_event_without_a_valid_mac_is_a_mac_mismatch(
    gapped: Sealed, mac_key: bytes
) -> None:
    forged = make_event(4, decision="deny", outcome="denied")
    with gapped.engine.begin() as conn:
        insert_raw(conn, forged, seq=4, mac_key=b"not the audit key, but 32 bytes!")
    assert_names(gapped.verify(), "mac_mismatch", 4, forged.id)


def test_inserted_event_with_a_valid_mac_below_the_sealed_head_is_inserted(
    gapped: Sealed, mac_key: bytes
) -> None:
    forged = make_event(4, time=gapped.event(3).time + timedelta(microseconds=1))
    with gapped.engine.begin() as conn:
        insert_raw(conn, forged, seq=4, mac_key=mac_key)
    assert_names(gapped.verify(), "inserted", 4, forged.id)


def test_inserted_event_in_the_unsealed_tail_without_a_valid_mac(gapped: Sealed) -> None:
    forged = make_event(9)
    with gapped.engine.begin() as conn:
        insert_raw(conn, forged, seq=100, mac_key=bytes(32))
    assert_names(gapped.verify(), "mac_mismatch", 100, forged.id)


def test_copied_event_with_a_new_id_column_is_caught(gapped: Sealed) -> None:
    """A replayed body and MAC under a fresh event_id: the body names another id."""
    with as_db_admin(gapped.engine) as conn:
        row = conn.execute(sa.select(audit_events).where(E.seq == 1)).one()._asdict()
        conn.execute(sa.insert(audit_events).values({**row, "seq": 4, "event_id": "e" * 32}))
    assert_names(gapped.verify(), "column_mismatch", 4, "e" * 32)


# --- reordered ---------------------------------------------------------------------

_CONTENT = [
    "event_id", "time", "action", "actor_person_id", "decision", "outcome",
    "resource_record", "resource_client", "body", "mac",
]  # fmt: skip


def test_swapped_event_rows_are_reordered(sealed: Sealed) -> None:
    with as_db_admin(sealed.engine) as conn:
        second, fourth = (
            conn.execute(sa.select(*(E[c] for c in _CONTENT)).where(E.seq == s)).one()._asdict()
            for s in (2, 4)
        )
        conn.execute(sa.update(audit_events).where(E.seq == 2).values(event_id="t" * 32))
        conn.execute(sa.update(audit_events).where(E.seq == 4).values(second))
        conn.execute(sa.update(audit_events).where(E.seq == 2).values(fourth))
    assert_names(sealed.verify(), "reordered", 2, sealed.event(4).id, position=2)


def test_swapped_chain_links_are_reordered(sealed: Sealed) -> None:
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.update(audit_chain).where(C.position == 2).values(event_seq=-2))
        conn.execute(
            sa.update(audit_chain)
            .where(C.position == 4)
            .values(event_seq=2, event_id=sealed.event(2).id)
        )
        conn.execute(
            sa.update(audit_chain)
            .where(C.position == 2)
            .values(event_seq=4, event_id=sealed.event(4).id)
        )
    assert_names(sealed.verify(), "reordered", 4, sealed.event(4).id, position=2)


def test_swapped_whole_chain_rows_are_reordered(sealed: Sealed) -> None:
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.update(audit_chain).where(C.position == 2).values(position=-2))
        conn.execute(sa.update(audit_chain).where(C.position == 4).values(position=2))
        conn.execute(sa.update(audit_chain).where(C.position == -2).values(position=4))
    assert_names(sealed.verify(), "reordered", 4, sealed.event(4).id, position=2)


# --- truncated ---------------------------------------------------------------------


def test_truncated_sealed_events_are_caught_by_the_checkpoint(sealed: Sealed) -> None:
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.delete(audit_events).where(E.seq >= 5))
        conn.execute(sa.delete(audit_chain).where(C.position >= 5))
    report = sealed.verify()
    assert_names(report, "truncated", None, None, position=5)
    assert "position 6" in report.message and report.sealed == 4


# --- checkpoints -------------------------------------------------------------------


def _flip(hex_text: str) -> str:
    return hex_text[:-1] + ("0" if hex_text[-1] != "0" else "1")


@pytest.mark.parametrize("column", ["signature", "head_hash", "time"])
def test_changed_checkpoint_is_a_bad_signature(sealed: Sealed, column: str) -> None:
    with as_db_admin(sealed.engine) as conn:
        row = conn.execute(sa.select(audit_checkpoints).where(K.position == 3)).one()
        value: object = (
            utc(row.time) + timedelta(microseconds=1)
            if column == "time"
            else _flip(row._mapping[column])
        )
        conn.execute(sa.update(audit_checkpoints).where(K.position == 3).values({column: value}))
    assert_names(sealed.verify(), "bad_signature", 3, sealed.event(3).id, position=3)


def test_checkpoint_signed_by_another_key_is_a_bad_signature(sealed: Sealed) -> None:
    forger = Ed25519PrivateKey.generate()
    with as_db_admin(sealed.engine) as conn:
        row = conn.execute(sa.select(audit_checkpoints).where(K.position == 6)).one()
        message = checkpoint_message(6, row.head_hash, utc(row.time), row.prev_signature)
        conn.execute(
            sa.update(audit_checkpoints)
            .where(K.position == 6)
            .values(signature=forger.sign(message).hex())
        )
    assert_names(sealed.verify(), "bad_signature", 6, sealed.event(6).id, position=6)


def test_removed_checkpoint_breaks_the_signature_links(sealed: Sealed) -> None:
    with as_db_admin(sealed.engine) as conn:
        conn.execute(sa.delete(audit_checkpoints).where(K.position == 3))
    assert_names(sealed.verify(), "checkpoint_mismatch", 6, sealed.event(6).id, position=6)
