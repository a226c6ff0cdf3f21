"""Event factories and attacker tools for the audit tests."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from audit import Actor, AuditLog, Event, audit_events, canonical_json, drop_append_only_ddl


def make_event(n: int = 1, **overrides: Any) -> Event:
    """An event with distinct, recognisable fields for number ``n``."""
    fields: dict[str, Any] = {
        "action": "record:consult",
        "actor": Actor(person_id=n, subject=f"sso|{n}", ip="10.0.0.1", user_agent="pytest"),
        "decision": "allow",
        "outcome": "ok",
        "resource": {"record": str(100 + n), "client": str(n % 3)},
        "reason": f"reason {n}",
        "policy_ids": ("permit-grant",),
        "purpose": "review",
        "grant_id": f"g{n}",
        "request_id": f"req{n}",
        "details": {"n": n},
    }
    fields.update(overrides)
    return Event(**fields)


def append_events(engine: sa.Engine, log: AuditLog, count: int, *, start: int = 1) -> list[Event]:
    """Append ``count`` events, each in its own committed transaction."""
    events = []
    for n in range(start, start + count):
        event = make_event(n)
        with engine.begin() as conn:
            log.append(conn, event)
        events.append(event)
    return events


def insert_raw(
    conn: sa.Connection,
    event: Event,
    *,
    seq: int,
    mac_key: bytes,
    mac: str | None = None,
) -> None:
    """Insert an event row at a chosen seq, as someone holding the MAC key could."""
    body = canonical_json(event)
    conn.execute(
        sa.insert(audit_events).values(
            seq=seq,
            event_id=event.id,
            time=event.time,
            action=event.action,
            actor_person_id=event.actor.person_id,
            decision=event.decision,
            outcome=event.outcome,
            resource_record=event.resource.get("record"),
            resource_client=event.resource.get("client"),
            body=body.decode("ascii"),
            mac=mac if mac is not None else hmac.new(mac_key, body, "sha256").hexdigest(),
        )
    )


@contextmanager
def as_db_admin(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction of an attacker who can drop the append-only triggers."""
    with engine.begin() as conn:
        for statement in drop_append_only_ddl(engine.dialect.name):
            conn.exec_driver_sql(statement)
        yield conn


def utc(value: datetime) -> datetime:
    """Read back a stored time as aware UTC (SQLite returns it naive)."""
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
