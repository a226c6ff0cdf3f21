"""The export quota's windows, counted by the database (DESIGN §3.6): what counts, and when."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from audit import Actor, Event
from tests.factories import Factory
from vault import access
from vault.db import utcnow
from vault.models import QuotaOpening
from vault.policy import Action
from vault.policy.actions import LOOKUP_ACTIONS


def _opened(
    vault,
    person_id: int,
    record: str | None,
    minutes_ago: float,
    *,
    action: str = "record:consult",
    decision: str = "allow",
) -> None:
    ev = Event(
        action=action,
        actor=Actor(person_id=person_id),
        decision=decision,
        outcome="ok" if decision == "allow" else "denied",
        resource={"record": record} if record else {},
        time=utcnow() - timedelta(minutes=minutes_ago),
    )
    with vault.engine.begin() as conn:
        vault.audit.append(conn, ev)


def _limits(vault, hour: int, day: int) -> None:
    object.__setattr__(vault, "config", vault.config.with_(quota_hour=hour, quota_day=day))


def test_windows_count_distinct_allowed_openings_of_this_person(make: Factory, vault, db):
    sales, other = make.person(), make.person()
    _opened(vault, sales.id, "1", 10)
    _opened(vault, sales.id, "1", 20)  # the same record again: still one
    _opened(vault, sales.id, "2", 120)  # in the day, not in the hour
    _opened(vault, sales.id, "3", 25 * 60)  # older than a day
    _opened(vault, sales.id, "4", 5, decision="deny")  # denied: not opened
    _opened(vault, sales.id, "5", 5, action="record:read")  # catalogue only
    _opened(vault, sales.id, "6", 5, action="item:borrow")  # borrowing counts
    _opened(vault, sales.id, "8", 5, action="item:checkout")  # lending to another does not
    _opened(vault, sales.id, None, 5)  # no record named
    _opened(vault, other.id, "7", 5)  # someone else

    _limits(vault, hour=2, day=3)
    quota = access.quota_of(vault, db, sales, 1)
    assert (quota.hour, quota.day, quota.exceeded) == (2, 3, False)
    # Record 2 was opened today but not this hour: the hour window is full.
    assert access.quota_of(vault, db, sales, 2).exceeded is True
    _limits(vault, hour=3, day=3)
    assert access.quota_of(vault, db, sales, 2).exceeded is False
    # Record 3 was opened yesterday: a new record for both windows, and the day is full.
    assert access.quota_of(vault, db, sales, 3).exceeded is True
    _limits(vault, hour=3, day=4)
    assert access.quota_of(vault, db, sales, 3).exceeded is False
    assert access.quota_of(vault, db, other, 1).hour == 1


def test_a_person_with_no_history_is_within_quota(make: Factory, vault, db):
    quota = access.quota_of(vault, db, make.person(), 42)
    assert (quota.hour, quota.day, quota.exceeded) == (0, 0, False)


def _units(db, person_id: int) -> dict[str, datetime]:
    rows = db.execute(
        sa.select(QuotaOpening.unit, QuotaOpening.last_at).where(
            QuotaOpening.person_id == person_id
        )
    ).all()
    return dict(rows)


def test_the_database_keeps_one_unit_per_record_with_its_last_opening(make: Factory, vault, db):
    """However often a record is opened, the quota reads one row for it: the trigger on
    the log upserts it, in the event's own transaction, to the latest opening."""
    sales = make.person()
    for minutes in (30, 10, 20):
        _opened(vault, sales.id, "1", minutes)
    units = _units(db, sales.id)
    assert list(units) == ["1"]
    assert abs(units["1"] - (utcnow() - timedelta(minutes=10))) < timedelta(seconds=5)


def test_units_older_than_two_days_are_dropped_as_the_person_opens_more(make: Factory, vault, db):
    sales = make.person()
    _opened(vault, sales.id, "1", 3 * 24 * 60)
    _opened(vault, sales.id, "2", 30 * 60)  # a day and a half: kept, outside the day window
    _opened(vault, sales.id, "3", 1)
    assert sorted(_units(db, sales.id)) == ["2", "3"]
    assert access.quota_of(vault, db, sales, 9).day == 1


def test_exactly_the_counted_actions_keep_quota_units(make: Factory, vault, db):
    """The trigger's list of actions (a migration's) is the code's ``COUNTED``: an action
    added to the quota without a migration that replaces the trigger fails here."""
    sales = make.person()
    for action in Action:
        _opened(vault, sales.id, f"r-{action.value}", 1, action=action.value)
    lookups = {a.value for a in LOOKUP_ACTIONS}
    counted = {unit.removeprefix("r-") for unit in _units(db, sales.id) if unit.startswith("r-")}
    # A lookup's unit is its event, never the record it may name.
    assert counted == set(access.COUNTED) - lookups
    assert len(_units(db, sales.id)) == len(access.COUNTED)
