"""query_events: filters, seq paging and the hard cap on page size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from audit import MAX_QUERY_LIMIT, Actor, AuditLog, query_events
from tests.unit.audit.helpers import make_event

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def stored(engine: sa.Engine, log: AuditLog) -> list[tuple[int, object]]:
    events = [
        make_event(1, time=T0),
        make_event(2, time=T0 + timedelta(hours=1), action="record:copy"),
        make_event(3, time=T0 + timedelta(hours=2), decision="deny", outcome="denied"),
        make_event(4, time=T0 + timedelta(hours=3), actor=Actor(person_id=1), resource={}),
    ]
    with engine.begin() as conn:
        return [(log.append(conn, event), event) for event in events]


def _ids(rows: list) -> list[int]:
    return [event.actor.person_id for _, event in rows]


def test_all_events_come_back_whole_in_seq_order(engine: sa.Engine, stored: list) -> None:
    with engine.connect() as conn:
        assert query_events(conn) == stored


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"action": "record:copy"}, [2]),
        ({"person_id": 1}, [1, 1]),
        ({"record": "103"}, [3]),
        ({"client": "1"}, [1]),
        ({"decision": "deny"}, [3]),
        ({"since": T0 + timedelta(hours=1)}, [2, 3, 1]),
        ({"until": T0 + timedelta(hours=1)}, [1]),
        # The same instant in another zone: bounds are compared as UTC.
        ({"since": (T0 + timedelta(hours=2)).astimezone(timezone(timedelta(hours=8)))}, [3, 1]),
        ({"action": "record:consult", "person_id": 3}, [3]),
    ],
)
def test_filters(engine: sa.Engine, stored: list, filters: dict, expected: list[int]) -> None:
    with engine.connect() as conn:
        assert _ids(query_events(conn, **filters)) == expected


def test_paging_after_seq(engine: sa.Engine, stored: list) -> None:
    with engine.connect() as conn:
        first = query_events(conn, limit=2)
        second = query_events(conn, limit=2, after_seq=first[-1][0])
        assert query_events(conn, limit=2, after_seq=second[-1][0]) == []
    assert first + second == stored


def test_page_size_is_capped(engine: sa.Engine, log: AuditLog) -> None:
    with engine.begin() as conn:
        for n in range(MAX_QUERY_LIMIT + 1):
            log.append(conn, make_event(n))
    with engine.connect() as conn:
        assert len(query_events(conn, limit=10_000)) == MAX_QUERY_LIMIT == 500


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"since": datetime(2025, 1, 1)}])
def test_bad_arguments_are_refused(engine: sa.Engine, kwargs: dict) -> None:
    with engine.connect() as conn, pytest.raises(ValueError):
        query_events(conn, **kwargs)
