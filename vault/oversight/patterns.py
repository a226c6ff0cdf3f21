"""Access patterns at a glance, for the auditor's desk: who opens how much, when, and whose.

A *use* is a record opened: an allowed consultation, copy or borrowing (the content acts,
:data:`vault.policy.actions.CONTENT_ACTIONS`), read from the audit log's indexed columns
(action, actor, decision, time, client); nothing is decrypted and no event body is read.

* a person's timeline: records opened per UTC day over the window, against their own
  baseline (the mean and mean + 2 standard deviations of their daily count over the
  ``BASELINE_DAYS`` before the window) and against their peers (the people of the same
  kind, custodians or not: the median of their counts that day), with the quotas;
* a heat map of uses by weekday and hour (UTC);
* the top people and the top clients by use.

Every function takes ``now`` so that tests place events in time. Looking is audited
(``audit:patterns``), with the period and the person looked at.
"""

from __future__ import annotations

import math
import statistics as stats_
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, cast, func, select
from sqlalchemy.orm import Session

from audit import audit_events
from vault import auditing
from vault.authz import require
from vault.caller import Caller
from vault.db import utcnow
from vault.models import Client, Designation, Person
from vault.oversight.statistics import _day
from vault.policy import Action
from vault.policy.actions import CONTENT_ACTIONS
from vault.runtime import Vault

BASELINE_DAYS = 90
TOP = 10
# Monday first, as ISO weekdays (1..7) minus one.
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_ev = audit_events.c
USE_ACTIONS = tuple(sorted(a.value for a in CONTENT_ACTIONS))
_USED = and_(_ev.action.in_(USE_ACTIONS), _ev.decision == "allow")


@dataclass(frozen=True)
class Quotas:
    """The limits that apply to a person: the export quota (distinct records opened per
    hour and per day, custodians' own) and the page quota (list pages per hour and day)."""

    export_hour: int
    export_day: int
    page_hour: int
    page_day: int


@dataclass(frozen=True)
class DayRow:
    """One day of a person's timeline."""

    day: date
    opened: int
    busiest_hour: int
    peer_median: float


@dataclass(frozen=True)
class Timeline:
    """A person's records opened per day against their baseline, their peers and quotas."""

    person: Person
    peer_group: str  # "custodian", or the roles held (e.g. "employee")
    peers: int
    since: date
    until: date
    rows: list[DayRow]
    baseline_mean: float
    baseline_sd: float
    quotas: Quotas

    @property
    def baseline_high(self) -> float:
        """The top of the ordinary: mean + 2 standard deviations."""
        return self.baseline_mean + 2 * self.baseline_sd

    @property
    def total(self) -> int:
        return sum(r.opened for r in self.rows)

    @property
    def days_above(self) -> int:
        """Days with more records opened than the baseline's mean + 2 sd."""
        return sum(1 for r in self.rows if r.opened > self.baseline_high)


@dataclass(frozen=True)
class Ranked:
    """One line of a top list."""

    id: int
    label: str
    uses: int


@dataclass(frozen=True)
class Patterns:
    """Everything the access-patterns page shows."""

    as_of: datetime
    days: int
    since: datetime
    heat: list[list[int]]  # [weekday 0=Mon..6][hour 0..23]
    top_people: list[Ranked]
    top_clients: list[Ranked]
    timeline: Timeline | None

    @property
    def heat_total(self) -> int:
        return sum(sum(row) for row in self.heat)


def _hour(db: Session) -> Any:
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.extract("hour", func.timezone("UTC", _ev.time)), Integer)
    return cast(func.strftime("%H", _ev.time), Integer)


def _weekday(db: Session) -> Any:
    """0 = Monday .. 6 = Sunday, on either database."""
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.extract("isodow", func.timezone("UTC", _ev.time)), Integer) - 1
    # SQLite: %w is 0 = Sunday .. 6 = Saturday.
    return (cast(func.strftime("%w", _ev.time), Integer) + 6) % 7


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _start_of_day(day: date, like: datetime) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=like.tzinfo)


def is_custodian(db: Session, person_id: int) -> bool:
    """Whether the person holds an active custodian designation."""
    return bool(
        db.scalar(
            select(func.count())
            .select_from(Designation)
            .where(Designation.person_id == person_id, Designation.revoked_at.is_(None))
        )
    )


def quotas_of(v: Vault, custodian: bool) -> Quotas:
    """The quotas in the configuration that apply to a custodian or anyone else."""
    cfg = v.config
    return Quotas(
        export_hour=cfg.custodian_quota_hour if custodian else cfg.quota_hour,
        export_day=cfg.custodian_quota_day if custodian else cfg.quota_day,
        page_hour=cfg.page_quota_hour,
        page_day=cfg.page_quota_day,
    )


def peers_of(db: Session, person: Person, custodian: bool) -> list[int]:
    """The person's peers: the other custodians, or else the other people who are not
    custodians and hold exactly the same roles (an employee's peers are employees)."""
    designated = select(Designation.person_id).where(Designation.revoked_at.is_(None))
    roles = set(person.roles)
    candidates = db.scalars(
        select(Person)
        .where(
            Person.id != person.id,
            Person.id.in_(designated) if custodian else Person.id.not_in(designated),
        )
        .order_by(Person.id)
    )
    return [p.id for p in candidates if custodian or set(p.roles) == roles]


def daily_counts(
    db: Session, person_ids: list[int], since: datetime, until: datetime
) -> dict[int, dict[date, int]]:
    """Records opened per UTC day by each of ``person_ids`` in ``[since, until)``."""
    if not person_ids:
        return {}
    day = _day(db).label("day")
    rows = db.execute(
        select(_ev.actor_person_id, day, func.count())
        .where(
            _USED,
            _ev.actor_person_id.in_(person_ids),
            _ev.time >= since,
            _ev.time < until,
        )
        .group_by(_ev.actor_person_id, day)
    ).all()
    out: dict[int, dict[date, int]] = {pid: {} for pid in person_ids}
    for pid, d, n in rows:
        out[int(pid)][_as_date(d)] = int(n)
    return out


def timeline(v: Vault, db: Session, person: Person, *, days: int, now: datetime) -> Timeline:
    """``person``'s records opened per day over the ``days`` days up to ``now`` (the last
    day is today), their 90-day baseline before that and their peers' median per day."""
    today = now.date()
    first = today - timedelta(days=days - 1)
    since = _start_of_day(first, now)
    until = _start_of_day(today + timedelta(days=1), now)
    base_since = since - timedelta(days=BASELINE_DAYS)
    custodian = is_custodian(db, person.id)
    peer_ids = peers_of(db, person, custodian)
    mine = daily_counts(db, [person.id], since, until)[person.id]
    base = daily_counts(db, [person.id], base_since, since)[person.id]
    theirs = daily_counts(db, peer_ids, since, until)
    hour = _hour(db).label("hour")
    day = _day(db).label("day")
    busiest: dict[date, int] = {}
    per_hour = (
        select(day, hour, func.count().label("n"))
        .where(_USED, _ev.actor_person_id == person.id, _ev.time >= since, _ev.time < until)
        .group_by(day, hour)
    )
    for d, _h, n in db.execute(per_hour):
        key = _as_date(d)
        busiest[key] = max(busiest.get(key, 0), int(n))
    values = [base.get(base_since.date() + timedelta(days=i), 0) for i in range(BASELINE_DAYS)]
    mean = sum(values) / BASELINE_DAYS
    sd = math.sqrt(sum((x - mean) ** 2 for x in values) / BASELINE_DAYS)
    rows = []
    for i in range(days):
        d = first + timedelta(days=i)
        counts = [theirs[p].get(d, 0) for p in peer_ids]
        rows.append(
            DayRow(
                day=d,
                opened=mine.get(d, 0),
                busiest_hour=busiest.get(d, 0),
                peer_median=float(stats_.median(counts)) if counts else 0.0,
            )
        )
    return Timeline(
        person=person,
        peer_group="custodian" if custodian else "+".join(sorted(person.roles)),
        peers=len(peer_ids),
        since=first,
        until=today,
        rows=rows,
        baseline_mean=round(mean, 2),
        baseline_sd=round(sd, 2),
        quotas=quotas_of(v, custodian),
    )


def heat_map(db: Session, since: datetime, until: datetime) -> list[list[int]]:
    """Uses by weekday (rows, Monday first) and hour of day (columns), UTC."""
    grid = [[0] * 24 for _ in range(7)]
    wd, hour = _weekday(db).label("wd"), _hour(db).label("hour")
    for w, h, n in db.execute(
        select(wd, hour, func.count())
        .where(_USED, _ev.time >= since, _ev.time < until)
        .group_by(wd, hour)
    ):
        grid[int(w)][int(h)] = int(n)
    return grid


def top_people(db: Session, since: datetime, until: datetime, limit: int = TOP) -> list[Ranked]:
    """The people who opened the most records in the period."""
    rows = db.execute(
        select(_ev.actor_person_id, func.count())
        .where(_USED, _ev.time >= since, _ev.time < until, _ev.actor_person_id.is_not(None))
        .group_by(_ev.actor_person_id)
        .order_by(func.count().desc(), _ev.actor_person_id)
        .limit(limit)
    ).all()
    people = {
        p.id: p for p in db.scalars(select(Person).where(Person.id.in_([r[0] for r in rows])))
    }
    return [Ranked(int(pid), people[pid].email, int(n)) for pid, n in rows if pid in people]


def top_clients(db: Session, since: datetime, until: datetime, limit: int = TOP) -> list[Ranked]:
    """The client files whose records were opened most in the period."""
    rows = db.execute(
        select(_ev.resource_client, func.count())
        .where(_USED, _ev.time >= since, _ev.time < until, _ev.resource_client.is_not(None))
        .group_by(_ev.resource_client)
        .order_by(func.count().desc(), _ev.resource_client)
        .limit(limit)
    ).all()
    ids = [int(c) for c, _ in rows if str(c).isdigit()]
    clients = {c.id: c for c in db.scalars(select(Client).where(Client.id.in_(ids)))}
    return [
        Ranked(int(c), f"{clients[int(c)].code} {clients[int(c)].name}", int(n))
        for c, n in rows
        if str(c).isdigit() and int(c) in clients
    ]


def collect(
    v: Vault,
    db: Session,
    caller: Caller,
    *,
    days: int = 30,
    person: Person | None = None,
    now: datetime | None = None,
) -> Patterns:
    """The access patterns of the last ``days`` days (and ``person``'s timeline), audited."""
    require(v, db, caller, Action.AUDIT_PATTERNS)
    now = now or utcnow()
    # Whole UTC days, the last of them today: the same days as the timeline's.
    since = _start_of_day(now.date() - timedelta(days=days - 1), now)
    until = _start_of_day(now.date() + timedelta(days=1), now)
    found = Patterns(
        as_of=now,
        days=days,
        since=since,
        heat=heat_map(db, since, until),
        top_people=top_people(db, since, until),
        top_clients=top_clients(db, since, until),
        timeline=timeline(v, db, person, days=days, now=now) if person is not None else None,
    )
    auditing.record(
        v,
        db,
        caller,
        Action.AUDIT_PATTERNS,
        resource={"person": person.id} if person is not None else None,
        details={"days": days},
    )
    return found
