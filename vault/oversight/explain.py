"""Alerts explained: what triggered one, the events behind it, and what clearing it means.

Each kind of alert has a rule (in words), a threshold and what was observed, read from
the alert's own ``guard:alert`` event (its details) and the configuration; the events
behind it are a filter of the audit log (a person, a time window, a decision), shown on
the page and linked to the log's own filtered view.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import Event, audit_events, query_events
from vault.authz import require
from vault.caller import Caller
from vault.errors import NotFound
from vault.models import Alert, Person
from vault.oversight import departure_watch, pages
from vault.oversight.patterns import USE_ACTIONS, is_custodian, quotas_of
from vault.policy import Action
from vault.runtime import Vault

EVENTS_SHOWN = 50
Figures = dict[str, str | int]
_ev = audit_events.c


@dataclass(frozen=True)
class EventFilter:
    """A slice of the audit log: the events behind an alert."""

    person_id: int | None
    since: datetime
    until: datetime
    decision: str | None = None
    actions: tuple[str, ...] = ()

    def query(self) -> dict[str, str]:
        """The audit log page's query string for this slice (minutes, UTC, until rounded up)."""
        until = self.until + timedelta(seconds=59)
        args = {
            "since": self.since.strftime("%Y-%m-%dT%H:%M"),
            "until": until.strftime("%Y-%m-%dT%H:%M"),
        }
        if self.person_id is not None:
            args["person"] = str(self.person_id)
        if self.decision:
            args["decision"] = self.decision
        if len(self.actions) == 1:
            args["action"] = self.actions[0]
        return args


@dataclass(frozen=True)
class Explanation:
    """What an alert's page says."""

    alert: Alert
    person: Person | None
    cleared_by: Person | None
    known: bool  # a kind whose rule is explained (else only its summary is shown)
    threshold: Figures
    observed: Figures
    clears_review: bool  # clearing it clears the person's review (and their open alerts)
    behind: EventFilter | None
    events: list[tuple[int, Event]] = field(default_factory=list)
    trigger_seq: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _trigger(db: Session, alert: Alert) -> tuple[int | None, dict[str, Any]]:
    """The alert's own guard:alert event (seq and details), found by its alert id."""
    created = _aware(alert.created_at)
    for seq, body in db.execute(
        select(_ev.seq, _ev.body)
        .where(
            _ev.action == Action.GUARD_ALERT.value,
            _ev.time >= created - timedelta(minutes=5),
            _ev.time <= created + timedelta(minutes=5),
        )
        .order_by(_ev.seq)
    ):
        try:
            event = json.loads(body)
        except ValueError:
            continue
        resource = event.get("resource") if isinstance(event, dict) else None
        if isinstance(resource, dict) and resource.get("alert") == str(alert.id):
            details = event.get("details")
            return int(seq), details if isinstance(details, dict) else {}
    return None, {}


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


Rule = Callable[[Vault, Session, Alert, dict[str, Any]], tuple[Figures, Figures, EventFilter]]


def _q(d: dict[str, Any], key: str) -> str | int:
    value = d.get(key)
    return value if isinstance(value, int | str) and not isinstance(value, bool) else "?"


def _quota(v: Vault, db: Session, a: Alert, d: dict[str, Any]) -> tuple[Figures, Figures, Any]:
    q = quotas_of(v, a.person_id is not None and is_custodian(db, a.person_id))
    at = _aware(a.created_at)
    return (
        {"hour": q.export_hour, "day": q.export_day},
        {"hour": _q(d, "hour"), "day": _q(d, "day")},
        EventFilter(a.person_id, at - timedelta(days=1), at),
    )


def _pages(v: Vault, db: Session, a: Alert, d: dict[str, Any]) -> tuple[Figures, Figures, Any]:
    at = _aware(a.created_at)
    return (
        {"hour": v.config.page_quota_hour, "day": v.config.page_quota_day},
        {"hour": _q(d, "hour"), "day": _q(d, "day"), "page": _q(d, "page")},
        EventFilter(a.person_id, at - timedelta(days=1), at, actions=tuple(sorted(pages.PAGES))),
    )


def _knock(v: Vault, db: Session, a: Alert, d: dict[str, Any]) -> tuple[Figures, Figures, Any]:
    at = _aware(a.created_at)
    return (
        {},
        {"record": _q(d, "record")},
        EventFilter(a.person_id, at - timedelta(minutes=1), at, decision="deny"),
    )


def _loan(v: Vault, db: Session, a: Alert, d: dict[str, Any]) -> tuple[Figures, Figures, Any]:
    at = _aware(a.created_at)
    return (
        {"pages_out": _q(d, "pages_out")},
        {"pages_in": _q(d, "pages_in")},
        EventFilter(None, at - timedelta(minutes=1), at, actions=(Action.ITEM_CHECKIN.value,)),
    )


def _rise(v: Vault, db: Session, a: Alert, d: dict[str, Any]) -> tuple[Figures, Figures, Any]:
    at = _aware(a.created_at)
    notice = d.get("notice_at")
    since = datetime.fromisoformat(notice) if isinstance(notice, str) else at - timedelta(days=90)
    return (
        {
            "factor": f"{departure_watch.RISE_FACTOR:g}",
            "days": departure_watch.BASELINE_DAYS,
            "min_uses": departure_watch.MIN_USES,
        },
        {
            "weekly_after": _q(d, "weekly_after"),
            "uses_after": _q(d, "uses_after"),
            "weekly_before": _q(d, "weekly_before"),
            "uses_before": _q(d, "uses_before"),
            "notice": str(notice)[:10] if notice else "?",
        },
        EventFilter(a.person_id, _aware(since), at, actions=USE_ACTIONS),
    )


RULES: dict[str, Rule] = {
    "quota_exceeded": _quota,
    pages.ALERT_KIND: _pages,
    "departing_access": _knock,
    "departed_access": _knock,
    "loan_returned_short": _loan,
    "loan_damaged": _loan,
    departure_watch.ALERT_KIND: _rise,
}


def events_behind(db: Session, behind: EventFilter) -> list[tuple[int, Event]]:
    """The first events of the slice (by seq), narrowed to its actions."""
    rows = query_events(
        db.connection(),
        limit=500,
        person_id=behind.person_id,
        decision=behind.decision,
        since=behind.since,
        until=behind.until + timedelta(seconds=59),
        action=behind.actions[0] if len(behind.actions) == 1 else None,
    )
    if behind.actions:
        rows = [r for r in rows if r[1].action in behind.actions]
    else:
        rows = [r for r in rows if r[1].action != Action.GUARD_ALERT.value]
    return rows[:EVENTS_SHOWN]


def explain(v: Vault, db: Session, caller: Caller, alert_id: int) -> Explanation:
    """Everything the alert's page shows (auditors: the right to read alerts)."""
    require(v, db, caller, Action.ALERT_READ)
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise NotFound("no such alert", code="alert_not_found")
    person = db.get(Person, alert.person_id) if alert.person_id else None
    seq, details = _trigger(db, alert)
    rule = RULES.get(alert.kind)
    threshold: Figures = {}
    observed: Figures = {}
    behind: EventFilter | None = None
    if rule is not None:
        threshold, observed, behind = rule(v, db, alert, details)
    clears_review = bool(person and person.under_review and alert.kind == "quota_exceeded")
    return Explanation(
        alert=alert,
        person=person,
        cleared_by=db.get(Person, alert.cleared_by_id) if alert.cleared_by_id else None,
        known=rule is not None,
        threshold=threshold,
        observed=observed,
        clears_review=clears_review,
        behind=behind,
        events=events_behind(db, behind) if behind is not None else [],
        trigger_seq=seq,
        details=details,
    )
