"""Departures (DESIGN §3.9): a leaving date ends access at once; the report.

Setting or bringing forward a leaving date is one admin's act (it only ends access).
Taking it back or postponing it gives access back, so it is under the two-person rule
(:mod:`vault.proposals`, kinds ``departure_withdraw`` and ``departure_postpone``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import auditing, proposals
from vault.authz import Details, require
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import Conflict, Denied, InvalidInput
from vault.identity import sessions
from vault.models import Person, Proposal
from vault.policy import Action
from vault.runtime import Vault


def set_departure(
    v: Vault, db: Session, caller: Caller, person: Person, day: date, *, source: str = "admin"
) -> int:
    """Set a leaving date: from now on the person's access has ended (DESIGN §3.9).

    Grants are revoked, pending requests denied, approvals they gave on pending
    requests withdrawn; custody and everything but the own profile are refused by the
    policy from this moment, and on ``day`` the person is disabled.

    Returns:
        The number of grants revoked.
    """
    from vault.grants import live
    from vault.models import AccessRequest, Approval, Grant, RequestStatus

    if caller.person_id is not None:
        require(v, db, caller, Action.PERSON_DEPART)
        if caller.person_id == person.id and source == "admin":
            raise Denied("set your own leaving date through another admin", code="self_departure")
    _check_leaving_date(day)
    previous = person.leaving_on
    person.leaving_on = day if previous is None else min(previous, day)
    now = utcnow()
    revoked = 0
    for grant in db.scalars(
        select(Grant).where(
            Grant.person_id == person.id, Grant.revoked_at.is_(None), Grant.expires_at > now
        )
    ):
        live.revoke_grant(v, db, caller, grant, "departure")
        revoked += 1
    for req in db.scalars(
        select(AccessRequest).where(
            AccessRequest.requester_id == person.id,
            AccessRequest.status == RequestStatus.PENDING.value,
        )
    ):
        req.status = RequestStatus.DENIED.value
        req.decided_at = now
        req.decision_note = "requester is leaving"
    for approval in db.scalars(
        select(Approval)
        .join(AccessRequest)
        .where(
            Approval.approver_id == person.id, AccessRequest.status == RequestStatus.PENDING.value
        )
    ):
        db.delete(approval)
    auditing.record(
        v,
        db,
        caller,
        Action.PERSON_DEPART,
        resource={"person": person.id},
        details={
            "leaving_on": person.leaving_on.isoformat(),
            "grants_revoked": revoked,
            "source": source,
        },
    )
    # Every browser session of theirs ends now, not at its next expiry.
    sessions.end_all_sessions(v, db, caller, person, "departure")
    return revoked


@dataclass(frozen=True)
class Touch:
    """One use of a record or client by a departing person, from the audit log."""

    time: datetime
    action: str
    record_id: int | None
    client_id: int | None
    file_number: str
    client_code: str
    client_name: str
    tier: str


def departure_report(
    v: Vault,
    db: Session,
    caller: Caller,
    person: Person,
    days: int | None = None,
    *,
    export: str | None = None,
) -> list[Touch]:
    """Every record and client ``person`` consulted, copied, borrowed or deposited lately.

    Read from the audit log (allowed or completed acts only) for the last ``days``
    (default ``departure_report_days``) before now, so the company knows whom to call.
    Producing the report is itself audited (``export``: the file format it leaves in,
    e.g. ``csv``, recorded with it before the first row is written).
    """
    from audit import audit_events
    from vault.models import Client, Record

    require(v, db, caller, Action.DEPARTURE_REPORT)
    days = days or v.config.departure_report_days
    since = utcnow() - timedelta(days=days)
    rows = db.execute(
        select(
            audit_events.c.time,
            audit_events.c.action,
            audit_events.c.resource_record,
            audit_events.c.resource_client,
        )
        .where(
            audit_events.c.actor_person_id == person.id,
            audit_events.c.time >= since,
            audit_events.c.outcome == "ok",
            audit_events.c.action.in_(REPORTED_ACTIONS),
        )
        .order_by(audit_events.c.seq)
    ).all()
    record_ids = {int(r.resource_record) for r in rows if r.resource_record}
    client_ids = {int(r.resource_client) for r in rows if r.resource_client}
    recs = {r.id: r for r in db.scalars(select(Record).where(Record.id.in_(record_ids)))}
    clients = {c.id: c for c in db.scalars(select(Client).where(Client.id.in_(client_ids)))}
    touches = []
    for r in rows:
        rid = int(r.resource_record) if r.resource_record else None
        cid = int(r.resource_client) if r.resource_client else None
        rec, cli = recs.get(rid or -1), clients.get(cid or -1)
        t = r.time if r.time.tzinfo else r.time.replace(tzinfo=UTC)
        touches.append(
            Touch(
                t,
                r.action,
                rid,
                cid,
                rec.file_number if rec else "",
                cli.code if cli else "",
                cli.name if cli else "",
                cli.tier if cli else "",
            )
        )
    auditing.record(
        v,
        db,
        caller,
        Action.DEPARTURE_REPORT,
        resource={"person": person.id},
        details={"days": days, "rows": len(touches), **({"format": export} if export else {})},
    )
    return touches


# The columns of the report as CSV (the API's ``format=csv`` and the page's download).
CSV_COLUMNS = (
    "time",
    "action",
    "record_id",
    "file_number",
    "client_id",
    "client_code",
    "client_name",
    "tier",
    "pages",
)


def csv_rows(touches: list[Touch], read: dict[str, int]) -> list[list[object]]:
    """The report as CSV rows under :data:`CSV_COLUMNS` (to write through
    :func:`vault.csvout.writer`): one row per use, then one per kind of list page read."""
    rows: list[list[object]] = [
        [
            t.time.isoformat(),
            t.action,
            t.record_id,
            t.file_number,
            t.client_id,
            t.client_code,
            t.client_name,
            t.tier,
            "",
        ]
        for t in touches
    ]
    # The list pages read in the period: one row per list read, its act and count.
    for act, kind in (("record:read", "catalogue"), ("client:read", "clients")):
        if read[kind]:
            rows.append(["", act, "", "", "", "", "", "", read[kind]])
    return rows


REPORTED_ACTIONS = (
    "record:consult",
    "record:copy",
    "item:borrow",
    "item:checkout",
    "record:deposit",
    "record:attach",
    "client:create",
)


WITHDRAW = "departure_withdraw"
POSTPONE = "departure_postpone"


def _check_leaving_date(day: date) -> None:
    if day < date(2000, 1, 1) or day > date.today().replace(year=date.today().year + 2):
        raise InvalidInput("the leaving date is out of range", code="invalid_leaving_date")


def propose_withdrawal(
    v: Vault, db: Session, caller: Caller, person: Person, *, reason: str
) -> Proposal:
    """Propose taking back ``person``'s leaving date (a second admin approves)."""
    current = person.leaving_on.isoformat() if person.leaving_on else None
    return proposals.propose(v, db, caller, WITHDRAW, person, {"leaving_on": current}, reason)


def propose_postponement(
    v: Vault, db: Session, caller: Caller, person: Person, day: date, *, reason: str
) -> Proposal:
    """Propose moving ``person``'s leaving date later, to ``day`` (a second admin approves)."""
    current = person.leaving_on.isoformat() if person.leaving_on else None
    return proposals.propose(
        v, db, caller, POSTPONE, person, {"from": current, "leaving_on": day.isoformat()}, reason
    )


def _current(person: Person | None, payload: dict[str, Any], key: str) -> date:
    """The leaving date the proposal was made against; it must still be the person's."""
    assert person is not None
    if person.leaving_on is None:
        raise Conflict("this person has no leaving date", code="no_leaving_date")
    if payload.get(key) != person.leaving_on.isoformat():
        raise Conflict("the leaving date changed since this was proposed", code="proposal_stale")
    return person.leaving_on


def _validate_withdraw(
    v: Vault, db: Session, person: Person | None, payload: dict[str, Any]
) -> dict[str, Any]:
    current = _current(person, payload, "leaving_on")
    return {"leaving_on": current.isoformat()}


def _validate_postpone(
    v: Vault, db: Session, person: Person | None, payload: dict[str, Any]
) -> dict[str, Any]:
    current = _current(person, payload, "from")
    raw = payload.get("leaving_on")
    try:
        day = date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput("the leaving date is written YYYY-MM-DD", code="invalid_leaving_date")
    _check_leaving_date(day)
    if day <= current:
        raise InvalidInput(
            "a postponed leaving date is later than the current one; to bring it forward, "
            "set the leaving date",
            code="invalid_leaving_date",
        )
    return {"from": current.isoformat(), "leaving_on": day.isoformat()}


def _apply_departure(
    v: Vault,
    db: Session,
    caller: Caller,
    proposal: Proposal,
    person: Person | None,
    payload: dict[str, Any],
) -> Details:
    assert person is not None and person.leaving_on is not None
    previous = person.leaving_on
    withdrawn = proposal.kind == WITHDRAW
    person.leaving_on = None if withdrawn else date.fromisoformat(payload["leaving_on"])
    # Grants revoked and requests denied at the departure stay so: the person asks again.
    auditing.record(
        v,
        db,
        caller,
        Action.DEPARTURE_CHANGE,
        resource={"person": person.id},
        details={
            "previous_leaving_on": previous.isoformat(),
            "leaving_on": person.leaving_on.isoformat() if person.leaving_on else None,
            "withdrawn": withdrawn,
            **proposals.outcome_details(proposal, caller),
        },
    )
    return {"leaving_on": person.leaving_on.isoformat() if person.leaving_on else None}


for _kind in (
    proposals.Kind(
        name=WITHDRAW,
        action=Action.DEPARTURE_CHANGE,
        validate=_validate_withdraw,
        apply=_apply_departure,
        describe=lambda payload: f"take back leaving date {payload.get('leaving_on', '')}",
    ),
    proposals.Kind(
        name=POSTPONE,
        action=Action.DEPARTURE_CHANGE,
        validate=_validate_postpone,
        apply=_apply_departure,
        describe=lambda payload: (
            f"postpone leaving date {payload.get('from', '')} -> {payload.get('leaving_on', '')}"
        ),
    ),
):
    proposals.register(_kind)


def pages_read(
    v: Vault, db: Session, caller: Caller, person: Person, days: int | None = None
) -> dict[str, int]:
    """How many pages of the catalogue and of the client list ``person`` read in the
    departure report's window (part of the report: the same right, recorded with it)."""
    from vault.oversight import pages

    require(v, db, caller, Action.DEPARTURE_REPORT)
    since = utcnow() - timedelta(days=days or v.config.departure_report_days)
    return pages.pages_read(db, person.id, since)
