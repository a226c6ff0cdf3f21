"""AuditLog.inspect: one event's MAC, chain link and covering checkpoint; query_events newest
first."""

from __future__ import annotations

import sqlalchemy as sa

from audit import AuditLog, audit_events, query_events
from tests.unit.audit.helpers import append_events, as_db_admin


def test_an_unsealed_event_is_checked_but_not_yet_in_the_chain(engine: sa.Engine, log: AuditLog):
    append_events(engine, log, 3)
    with engine.connect() as conn:
        check = log.inspect(conn, 2)
        assert log.inspect(conn, 99) is None
    assert check is not None and check.mac_ok and check.columns_ok and check.ok
    assert check.position is None and check.checkpoint_position is None


def test_a_sealed_event_names_its_link_and_checkpoint(engine: sa.Engine, log: AuditLog):
    append_events(engine, log, 3)
    with engine.connect() as conn:
        log.seal(conn)
        first, second = log.inspect(conn, 1), log.inspect(conn, 2)
    assert first is not None and second is not None
    assert first.position == 1 and first.prev_mac is None and first.chain_ok
    assert second.position == 2 and second.prev_seq == 1 and second.prev_mac == first.mac
    assert second.chain_ok and second.checkpoint_position == 3
    assert second.checkpoint_signature_ok is True and second.ok


def test_a_changed_body_fails_its_mac(engine: sa.Engine, log: AuditLog):
    append_events(engine, log, 2)
    with engine.connect() as conn:
        log.seal(conn)
    with as_db_admin(engine) as conn:
        conn.execute(
            sa.update(audit_events)
            .where(audit_events.c.seq == 2)
            .values(body=sa.func.replace(audit_events.c.body, '"allow"', '"deny"'))
        )
    with engine.connect() as conn:
        check = log.inspect(conn, 2)
    assert check is not None and not check.mac_ok and not check.ok


def test_query_events_pages_newest_first(engine: sa.Engine, log: AuditLog):
    append_events(engine, log, 5)
    with engine.connect() as conn:
        first = query_events(conn, newest_first=True, limit=2)
        then = query_events(conn, newest_first=True, limit=2, before_seq=first[-1][0])
    assert [s for s, _ in first] == [5, 4] and [s for s, _ in then] == [3, 2]
