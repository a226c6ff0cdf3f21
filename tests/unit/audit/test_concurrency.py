"""Concurrent appends and sealers on PostgreSQL: every event chained exactly once, in order.

Sequence numbers are handed out before commit, so a lower seq can become
visible after a higher one; sealing must wait at such a gap, not chain around it.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
import sqlalchemy as sa

from audit import AuditLog, audit_chain, audit_events
from tests.unit.audit.helpers import make_event

pytestmark = pytest.mark.postgres


def test_seal_waits_for_a_lower_seq_that_commits_late(pg_engine: sa.Engine, log: AuditLog) -> None:
    with pg_engine.connect() as first, pg_engine.connect() as second, pg_engine.connect() as sealer:
        with first.begin() as slow:
            low = log.append(first, make_event(1))
            with second.begin():
                high = log.append(second, make_event(2))
            assert high > low
            assert log.seal(sealer) == 0  # seq `low` is in flight: do not chain past it
            slow.commit()
        assert log.seal(sealer) == 2
        report = log.verify(sealer)
    assert report.ok and report.sealed == 2, report


def test_a_commit_later_than_gap_grace_is_reported_as_inserted(
    pg_engine: sa.Engine, log: AuditLog
) -> None:
    """The documented limit of the gap rule: keep audited transactions short."""
    with pg_engine.connect() as first, pg_engine.connect() as second, pg_engine.connect() as sealer:
        with first.begin():
            low = log.append(first, make_event(1))
            with second.begin():
                log.append(second, make_event(2))
            assert log.seal(sealer, gap_grace=0) == 1  # gives up on `low`
        report = log.verify(sealer)
    assert (report.problem, report.first_bad_seq) == ("inserted", low)


def test_concurrent_appenders_and_sealers(pg_engine: sa.Engine, log: AuditLog) -> None:
    per_thread = 150
    committed: list[int] = []
    errors: list[BaseException] = []
    appending = threading.Event()
    appending.set()
    lock = threading.Lock()
    linked_while_running: list[int] = []

    def appender(worker: int) -> None:
        rng = random.Random(worker)
        try:
            with pg_engine.connect() as conn:
                for n in range(per_thread):
                    with conn.begin() as transaction:
                        seq = log.append(conn, make_event(worker * 1000 + n))
                        time.sleep(rng.random() * 0.004)  # commits interleave out of seq order
                        if rng.random() < 0.1:
                            transaction.rollback()  # leaves a permanent gap
                            continue
                    with lock:
                        committed.append(seq)
        except BaseException as exc:
            errors.append(exc)

    def sealer() -> None:
        try:
            with pg_engine.connect() as conn:
                while appending.is_set():
                    linked_while_running.append(log.seal(conn, batch=7, gap_grace=5))
                    time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)

    appenders = [threading.Thread(target=appender, args=(w,)) for w in (1, 2)]
    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    for thread in appenders + sealers:
        thread.start()
    for thread in appenders:
        thread.join()
    appending.clear()
    for thread in sealers:
        thread.join()
    assert not errors, errors
    assert sum(linked_while_running) > 0

    with pg_engine.connect() as conn:
        log.seal(conn, gap_grace=0)  # the rolled-back seqs are old news now
        report = log.verify(conn)
        chained = conn.scalars(sa.select(audit_chain.c.event_seq).order_by(audit_chain.c.position))
        chained_seqs = chained.all()
        stored = conn.scalars(sa.select(audit_events.c.seq)).all()
    assert report.ok, report
    assert report.sealed == report.events == len(committed)
    assert chained_seqs == sorted(committed) == sorted(stored)
