"""The departure watch: people with a leaving date whose use rose after notice was given.

*Notice* is the moment the leaving date was set: the first ``person:depart`` event for
the person since their last leaving date was taken back (the audit log records it with
its time; :mod:`vault.people.departures` writes it). From that moment the policy refuses
them everything but their profile, so a use after notice is an *attempt*: any
consultation, copy or borrowing they asked for, allowed or refused (the content acts,
:data:`vault.policy.actions.CONTENT_ACTIONS`).

A person is flagged when, after notice, their weekly mean of uses is more than
``RISE_FACTOR`` times their weekly mean over the ``BASELINE_DAYS`` before notice, and
they made at least ``MIN_USES`` uses after notice. A flag raises one alert
(``departure_use_rise``) per person and notice, from :func:`sweep`: run in each app
process's background thread (:meth:`vault.runtime.Vault.add_chore`, registered by the
web app) and by ``archive-vault people watch`` (cron), never by looking at the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit import audit_events
from vault import auditing
from vault.authz import require
from vault.caller import Caller
from vault.db import utcnow
from vault.models import Alert, Person
from vault.oversight import alerts
from vault.policy import Action
from vault.policy.actions import CONTENT_ACTIONS
from vault.runtime import Vault

ALERT_KIND = "departure_use_rise"
BASELINE_DAYS = 90
RISE_FACTOR = 2.0
MIN_USES = 3
WATCH_DAYS = 90

_ev = audit_events.c
USE_ACTIONS = tuple(sorted(a.value for a in CONTENT_ACTIONS))


@dataclass(frozen=True)
class Watched:
    """One person with a leaving date, their use before and after notice."""

    person: Person
    leaving_on: date
    notice_at: datetime | None
    uses_before: int  # in the BASELINE_DAYS before notice
    uses_after: int  # since notice (all attempts)
    refused_after: int
    uses_last_90: int
    weekly_before: float
    weekly_after: float
    flagged: bool
    alert_id: int | None

    @property
    def ratio(self) -> float | None:
        """How many times the weekly mean before notice the weekly mean after is."""
        if self.weekly_before == 0:
            return None
        return round(self.weekly_after / self.weekly_before, 2)


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def notices(db: Session, person_ids: list[int]) -> dict[int, datetime]:
    """When each person's current leaving date was first set (from the audit log)."""
    wanted = {str(p) for p in person_ids}
    found: dict[int, datetime] = {}
    rows = db.execute(
        select(_ev.time, _ev.action, _ev.body)
        .where(
            _ev.action.in_((Action.PERSON_DEPART.value, Action.DEPARTURE_CHANGE.value)),
            _ev.outcome == "ok",
        )
        .order_by(_ev.seq)
    ).all()
    for time, action, body in rows:
        try:
            event = json.loads(body)
        except ValueError:
            continue
        if not isinstance(event, dict) or not isinstance(event.get("resource"), dict):
            continue
        who = str((event.get("resource") or {}).get("person", ""))
        if who not in wanted:
            continue
        pid = int(who)
        if action == Action.DEPARTURE_CHANGE.value:
            details = event.get("details")
            if isinstance(details, dict) and details.get("withdrawn"):
                found.pop(pid, None)  # taken back: a new leaving date is a new notice
        elif pid not in found:
            found[pid] = _aware(time)
    return found


def _uses(db: Session, person_id: int, since: datetime, until: datetime) -> tuple[int, int]:
    """(all content attempts, refused ones) of ``person_id`` in ``[since, until)``."""
    row = db.execute(
        select(func.count(), func.count().filter(_ev.decision == "deny")).where(
            _ev.actor_person_id == person_id,
            _ev.action.in_(USE_ACTIONS),
            _ev.time >= since,
            _ev.time < until,
        )
    ).one()
    return int(row[0]), int(row[1])


def _alert_of(db: Session, person_id: int, notice_at: datetime | None) -> int | None:
    stmt = select(Alert.id).where(Alert.kind == ALERT_KIND, Alert.person_id == person_id)
    if notice_at is not None:
        stmt = stmt.where(Alert.created_at >= notice_at)
    return db.scalar(stmt.order_by(Alert.id.desc()).limit(1))


def assess(db: Session, people: list[Person], now: datetime) -> list[Watched]:
    """The watch figures of ``people`` (all with a leaving date) as of ``now``."""
    noticed = notices(db, [p.id for p in people])
    out = []
    for person in people:
        assert person.leaving_on is not None
        notice_at = noticed.get(person.id)
        uses_last, _ = _uses(db, person.id, now - timedelta(days=WATCH_DAYS), now)
        if notice_at is None:
            before = after = refused = 0
            weekly_before = weekly_after = 0.0
        else:
            before, _ = _uses(db, person.id, notice_at - timedelta(days=BASELINE_DAYS), notice_at)
            after, refused = _uses(db, person.id, notice_at, now + timedelta(seconds=1))
            weeks_after = max((now - notice_at) / timedelta(weeks=1), 1.0)
            weekly_before = before / (BASELINE_DAYS / 7)
            weekly_after = after / weeks_after
        flagged = (
            notice_at is not None
            and after >= MIN_USES
            and weekly_after > RISE_FACTOR * weekly_before
        )
        out.append(
            Watched(
                person=person,
                leaving_on=person.leaving_on,
                notice_at=notice_at,
                uses_before=before,
                uses_after=after,
                refused_after=refused,
                uses_last_90=uses_last,
                weekly_before=round(weekly_before, 2),
                weekly_after=round(weekly_after, 2),
                flagged=flagged,
                alert_id=_alert_of(db, person.id, notice_at),
            )
        )
    return out


def _departing(db: Session) -> list[Person]:
    return list(
        db.scalars(select(Person).where(Person.leaving_on.is_not(None)).order_by(Person.leaving_on))
    )


def watch(v: Vault, db: Session, caller: Caller, *, now: datetime | None = None) -> list[Watched]:
    """Everyone with a leaving date and their use around notice (auditors and admins: the
    departure report's right, recorded like it)."""
    require(v, db, caller, Action.DEPARTURE_REPORT)
    found = assess(db, _departing(db), now or utcnow())
    auditing.record(
        v,
        db,
        caller,
        Action.DEPARTURE_REPORT,
        details={"watch": True, "rows": len(found), "flagged": sum(w.flagged for w in found)},
    )
    return found


def sweep(v: Vault, db: Session, caller: Caller, *, now: datetime | None = None) -> list[Alert]:
    """Raise the alert of every newly flagged person (once per person and notice).

    The person's row is locked before looking for their alert, so two processes
    sweeping at once raise it once."""
    from vault.access import lock_person

    now = now or utcnow()
    raised = []
    for watched in assess(db, _departing(db), now):
        if not watched.flagged or watched.alert_id is not None:
            continue
        lock_person(db, watched.person.id)
        if _alert_of(db, watched.person.id, watched.notice_at) is not None:
            continue
        assert watched.notice_at is not None
        raised.append(
            alerts.raise_alert(
                v,
                db,
                caller,
                ALERT_KIND,
                watched.person,
                f"{watched.person.email} (leaving {watched.leaving_on}) used records "
                f"{watched.weekly_after:g} times a week since notice on "
                f"{watched.notice_at:%Y-%m-%d}, against {watched.weekly_before:g} before",
                details={
                    "notice_at": watched.notice_at.isoformat(),
                    "uses_before": watched.uses_before,
                    "uses_after": watched.uses_after,
                    "weekly_before": str(watched.weekly_before),
                    "weekly_after": str(watched.weekly_after),
                    "factor": str(RISE_FACTOR),
                    "min_uses": MIN_USES,
                },
                params={
                    "email": watched.person.email,
                    "leaving_on": str(watched.leaving_on),
                    "weekly_after": f"{watched.weekly_after:g}",
                    "weekly_before": f"{watched.weekly_before:g}",
                    "notice_on": f"{watched.notice_at:%Y-%m-%d}",
                },
            )
        )
    return raised


def sweep_now(v: Vault) -> int:
    """The background chore: sweep in a unit of work of its own, as the installation."""
    from vault import uow

    with v.sessions() as db:
        return len(uow.run(db, sweep, v, db, Caller.operator()))
