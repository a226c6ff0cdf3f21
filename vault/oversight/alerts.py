"""Alerts for auditors, and clearing a person put under review."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import auditing, metrics
from vault.caller import Caller
from vault.db import utcnow
from vault.models import Alert, Person, PersonRole, Role
from vault.oversight import notifications
from vault.policy import Action
from vault.runtime import Vault


def raise_alert(
    v: Vault,
    db: Session,
    caller: Caller,
    kind: str,
    person: Person | None,
    summary: str,
    details: dict[str, str | int | bool | None] | None = None,
    params: dict[str, str | int | float | None] | None = None,
) -> Alert:
    """Record an alert, audit it and tell every auditor.

    ``summary`` is the English line (the API, and rows from before ``params``); ``params``
    are its values, from which the pages write it in the reader's language."""
    alert = Alert(
        kind=kind,
        person_id=person.id if person else None,
        summary=summary[:300],
        params=dict(params) if params is not None else None,
    )
    db.add(alert)
    db.flush()
    metrics.alert(kind)
    auditing.record(
        v,
        db,
        caller,
        Action.GUARD_ALERT,
        outcome="ok",
        reason=kind,
        resource={"person": person.id if person else None, "alert": alert.id},
        details=details or {},
    )
    auditors = db.scalars(
        select(Person).where(Person.role_rows.any(PersonRole.role == Role.AUDITOR.value))
    )
    for auditor in auditors:
        if auditor.leaving_on is None:
            notifications.send(
                v,
                db,
                auditor,
                "alert",
                f"Alert: {kind}",
                summary,
                link="/alerts",
                params={"kind": kind, "summary": summary[:300], "values": alert.params},
            )
    return alert


def clear_review(v: Vault, db: Session, caller: Caller, person: Person, note: str) -> None:
    """An auditor clears a person under review (audited); open alerts on them are closed."""
    from vault.authz import require

    require(v, db, caller, Action.REVIEW_CLEAR)
    if not person.under_review:
        from vault.errors import Conflict

        raise Conflict("this person is not under review", code="not_under_review")
    person.under_review = False
    now = utcnow()
    for alert in db.scalars(
        select(Alert).where(Alert.person_id == person.id, Alert.cleared_at.is_(None))
    ):
        alert.cleared_at = now
        alert.cleared_by_id = caller.person_id
    auditing.record(
        v,
        db,
        caller,
        Action.REVIEW_CLEAR,
        resource={"person": person.id},
        details={"note": note[:200]},
    )


def clear_alert(v: Vault, db: Session, caller: Caller, alert: Alert, note: str) -> None:
    """An auditor clears one alert with a note (audited as ``review:clear``).

    An export-quota alert on a person still under review is cleared with the review
    (:func:`clear_review`), which gives their access back: that is done there, not here.
    """
    from vault.authz import require
    from vault.errors import Conflict

    require(v, db, caller, Action.REVIEW_CLEAR, resource={"alert": alert.id})
    if alert.cleared_at is not None:
        raise Conflict("this alert is already cleared", code="alert_cleared")
    person = db.get(Person, alert.person_id) if alert.person_id else None
    if person is not None and person.under_review and alert.kind == "quota_exceeded":
        clear_review(v, db, caller, person, note)
        return
    alert.cleared_at = utcnow()
    alert.cleared_by_id = caller.person_id
    auditing.record(
        v,
        db,
        caller,
        Action.REVIEW_CLEAR,
        resource={"person": alert.person_id, "alert": alert.id},
        details={"note": note[:200], "kind": alert.kind},
    )


def open_alerts(
    db: Session, *, include_cleared: bool = False, limit: int = 100
) -> tuple[list[Alert], list[Person]]:
    """The newest alerts (only the open ones unless ``include_cleared``), and who is under
    review. The route has already decided that the caller may read them (auditors)."""
    stmt = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if not include_cleared:
        stmt = stmt.where(Alert.cleared_at.is_(None))
    under_review = select(Person).where(Person.under_review.is_(True)).order_by(Person.id)
    return list(db.scalars(stmt)), list(db.scalars(under_review))
