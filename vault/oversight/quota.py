"""The bulk-export guard: a sliding-window quota of distinct records opened per person.

The windows are counted from the audit log itself (allowed content events by this
person), so the state lives in the database and holds across server processes.
Callers lock the person's row first (``SELECT ... FOR UPDATE``), so two requests by
one person are counted one after the other and can never both slip under the limit.
Crossing the quota denies the request, raises an alert for the auditors and puts
the person under review until an auditor clears them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, distinct, func, select
from sqlalchemy.orm import Session

from audit import audit_events
from vault.caller import Caller
from vault.db import utcnow
from vault.models import Person
from vault.oversight.alerts import raise_alert
from vault.policy import CONTENT_ACTIONS
from vault.runtime import Vault

# Audit tags that count as opening a record's content: consulting, copying and borrowing
# (the borrower's ``item:borrow``; the lending custodian's ``item:checkout`` is not theirs).
COUNTED = sorted(a.value for a in CONTENT_ACTIONS)


_e = audit_events.c


# Built once, like the audit INSERT: SQLAlchemy reuses their compiled form on every request.
_LOCK = select(Person.id).where(Person.id == bindparam("person_id")).with_for_update()


# One row, counted by the database (index on actor and time): distinct records opened in
# the day and in the hour, and when the record asked for was last opened in the day.
_WINDOWS = select(
    func.count(distinct(_e.resource_record)),
    func.count(distinct(case((_e.time >= bindparam("hour_ago"), _e.resource_record)))),
    func.max(case((_e.resource_record == bindparam("record"), _e.time))),
).where(
    _e.actor_person_id == bindparam("person_id"),
    _e.time >= bindparam("day_ago"),
    _e.decision == "allow",
    _e.action.in_(COUNTED),
)


@dataclass(frozen=True)
class Quota:
    """One person's window counts, and whether opening ``record_id`` would cross a limit."""

    hour: int
    day: int
    hour_limit: int
    day_limit: int
    exceeded: bool


def lock_person(db: Session, person_id: int) -> None:
    """Serialize one person's content decisions (PostgreSQL row lock; SQLite is serial)."""
    db.execute(_LOCK, {"person_id": person_id})


def check(
    v: Vault, db: Session, person: Person, record_id: int, now: datetime | None = None
) -> Quota:
    """Count distinct records ``person`` opened in the last hour and day."""
    now = now or utcnow()
    cfg = v.config
    custodian = bool(person.custodian_tiers())
    hour_limit = cfg.custodian_quota_hour if custodian else cfg.quota_hour
    day_limit = cfg.custodian_quota_day if custodian else cfg.quota_day
    hour_ago = now - timedelta(hours=1)
    day, hour, last_opened = db.execute(
        _WINDOWS,
        {
            "person_id": person.id,
            "day_ago": now - timedelta(days=1),
            "hour_ago": hour_ago,
            "record": str(record_id),
        },
    ).one()
    # Opening a record already opened in a window does not count against that window.
    in_day = last_opened is not None
    in_hour = in_day and _aware(last_opened) >= hour_ago
    exceeded = (not in_hour and hour >= hour_limit) or (not in_day and day >= day_limit)
    return Quota(hour, day, hour_limit, day_limit, exceeded)


def _aware(t: datetime) -> datetime:
    from datetime import UTC

    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def trip(
    v: Vault, db: Session, caller: Caller, person: Person, quota: Quota, record_id: int
) -> None:
    """Put ``person`` under review and alert the auditors (in the caller's transaction)."""
    first = not person.under_review
    person.under_review = True
    summary = (
        f"{person.email} crossed the export quota ({quota.hour}/{quota.hour_limit} "
        f"per hour, {quota.day}/{quota.day_limit} per day) opening record {record_id}"
    )
    raise_alert(
        v,
        db,
        caller,
        "quota_exceeded",
        person,
        summary,
        details={"hour": quota.hour, "day": quota.day, "record": str(record_id), "first": first},
    )
