"""Temporary access: requests, approvals, grants, expiry and revocation (DESIGN §3.8).

An employee who is not a custodian sees content only through a grant: one record or
one client file, named actions, a reason, an expiry. Approval is a custodian act,
decided by the policy against the request's target (scope and tenure), never by the
requester; core-tier requests need two distinct approvers. Expiry needs no job to be
enforced: requests and grants carry their deadlines and every decision compares with
now; the worker's ``expire-requests`` job also marks past-due pending requests expired
and notes each grant's end in the audit log (``expire_due``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault import auditing
from vault.authz import require
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import Conflict, InvalidInput, NotFound
from vault.models import (
    AccessRequest,
    Approval,
    Client,
    Designation,
    DesignationTier,
    Grant,
    GrantAction,
    Person,
    Record,
    RequestStatus,
    Role,
)
from vault.oversight import notifications
from vault.policy import Action, Target
from vault.runtime import Vault

REASON_MIN, REASON_MAX, REASON_WORDS = 15, 1000, 3


@dataclass(frozen=True)
class Ask:
    """What an employee asks for."""

    reason: str
    actions: tuple[str, ...] = ("consult",)
    record_id: int | None = None
    client_id: int | None = None
    duration_hours: int | None = None
    duration_minutes: int | None = None


def _validate(v: Vault, db: Session, ask: Ask) -> tuple[Client, Record | None, list[str], int]:
    if (ask.record_id is None) == (ask.client_id is None):
        raise InvalidInput(
            "name exactly one record or one client file", code="invalid_request_target"
        )
    record = None
    if ask.record_id is not None:
        record = db.get(Record, ask.record_id)
        if record is None:
            raise NotFound("no such record", code="record_not_found")
        client = record.client
    else:
        found = db.get(Client, ask.client_id)
        if found is None:
            raise NotFound("no such client", code="client_not_found")
        client = found
    valid = {a.value for a in GrantAction}
    actions = sorted({a.strip().lower() for a in ask.actions if a.strip()})
    if not actions or set(actions) - valid:
        raise InvalidInput(
            f"actions must be among {', '.join(sorted(valid))}", code="invalid_actions"
        )
    if "copy" in actions and record is None:
        # Copies are made one record at a time: a whole file is never copied.
        raise InvalidInput(
            "copies can be asked for one record, not a whole client file",
            code="copy_needs_single_record",
        )
    reason = ask.reason.strip()
    if len(reason) < REASON_MIN or len(reason.split()) < REASON_WORDS or len(reason) > REASON_MAX:
        raise InvalidInput(
            f"give a reason of at least {REASON_WORDS} words and {REASON_MIN} characters",
            code="missing_reason",
        )
    if ask.duration_hours is not None and ask.duration_minutes is not None:
        raise InvalidInput(
            "give the duration in hours or in minutes, not both", code="invalid_duration"
        )
    if ask.duration_minutes is not None:
        minutes = ask.duration_minutes
    else:
        minutes = 60 * (ask.duration_hours or v.config.grant_default_hours)
    if not 1 <= minutes <= 60 * v.config.grant_max_hours:
        raise InvalidInput(
            f"duration must be 1 minute to {v.config.grant_max_hours} hours",
            code="invalid_duration",
        )
    return client, record, actions, minutes


def request_access(v: Vault, db: Session, caller: Caller, ask: Ask) -> AccessRequest:
    """File a request; the custodians who may decide it are notified."""
    require(v, db, caller, Action.REQUEST_CREATE)
    assert caller.person_id is not None and caller.who is not None
    client, record, actions, minutes = _validate(v, db, ask)
    now = utcnow()
    req = AccessRequest(
        requester_id=caller.person_id,
        client_id=client.id,
        record_id=record.id if record else None,
        tier=client.tier,
        actions=actions,
        reason=ask.reason.strip(),
        duration_minutes=minutes,
        approvals_needed=2 if client.tier == "core" else 1,
        created_at=now,
        expires_at=now + timedelta(days=v.config.request_pending_days),
    )
    db.add(req)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.REQUEST_CREATE,
        resource={"request": req.id, "client": client.id, "record": req.record_id},
        purpose=req.reason,
        details={"actions": ",".join(req.actions), "minutes": minutes},
    )
    target = record.file_number if record else f"client file {client.code}"
    for custodian in deciders(v, db, req):
        notifications.send(
            v,
            db,
            custodian,
            "request_waiting",
            f"Access request #{req.id} waits for you: {target}",
            f"{caller.who.name} asks to {', '.join(req.actions)} {target}.",
            link=f"/requests/{req.id}",
            params={
                "request": req.id,
                "file_number": record.file_number if record else None,
                "client": client.code,
                "requester": caller.who.name,
                "actions": list(req.actions),
            },
        )
    return req


def deciders(v: Vault, db: Session, req: AccessRequest) -> list[Person]:
    """Custodians the policy would let decide ``req`` (for notifications and lists)."""
    today = date.today()
    target = Target(record_id=req.record_id, client_id=req.client_id, tier=req.tier)
    # Only people with a live designation naming the tier: never the whole company.
    people = db.scalars(
        select(Person).where(
            Person.leaving_on.is_(None),
            Person.designations.any(
                and_(
                    Designation.revoked_at.is_(None),
                    Designation.tier_rows.any(DesignationTier.tier == req.tier),
                )
            ),
        )
    )
    return [
        p
        for p in people
        if req.tier in p.custodian_tiers()
        and v.policy.decide(
            Caller(person=p).principal(today),
            Action.REQUEST_APPROVE,
            target,
            is_requester=p.id == req.requester_id,
        )
    ]


def _load_for_update(db: Session, request_id: int) -> AccessRequest:
    req = db.scalar(select(AccessRequest).where(AccessRequest.id == request_id).with_for_update())
    if req is None:
        raise NotFound("no such request", code="request_not_found")
    return req


def _decide_custody(
    v: Vault, db: Session, caller: Caller, action: Action, req: AccessRequest
) -> None:
    """The policy decision for a custodian act on ``req`` (a denial is audited and raised)."""
    assert caller.person_id is not None
    require(
        v,
        db,
        caller,
        action,
        Target(record_id=req.record_id, client_id=req.client_id, tier=req.tier),
        is_requester=caller.person_id == req.requester_id,
        resource={"request": req.id, "client": req.client_id, "record": req.record_id},
    )


def _ensure_pending(v: Vault, db: Session, req: AccessRequest, now: datetime) -> None:
    status = req.status_at(now)
    if status != RequestStatus.PENDING:
        raise Conflict(f"this request is {status}", code=f"request_{status}")


def approve(
    v: Vault, db: Session, caller: Caller, request_id: int, note: str = ""
) -> AccessRequest:
    """A custodian approves; the grant is issued when enough distinct custodians have."""
    assert caller.person_id is not None
    req = _load_for_update(db, request_id)
    _decide_custody(v, db, caller, Action.REQUEST_APPROVE, req)
    now = utcnow()
    _ensure_pending(v, db, req, now)
    requester = db.get(Person, req.requester_id)
    if requester is None or requester.leaving_on is not None:
        raise Conflict(
            "the requester is leaving; the request cannot be approved", code="requester_departing"
        )
    if any(a.approver_id == caller.person_id for a in req.approvals):
        raise Conflict("you already approved this request", code="already_approved")
    db.add(Approval(request_id=req.id, approver_id=caller.person_id, note=note[:500]))
    try:
        db.flush()
    except IntegrityError:
        raise Conflict("you already approved this request", code="already_approved") from None
    db.refresh(req)
    auditing.record(
        v,
        db,
        caller,
        Action.REQUEST_APPROVE,
        outcome="ok",
        resource={"request": req.id, "client": req.client_id, "record": req.record_id},
        details={"approvals": len(req.approvals), "needed": req.approvals_needed},
    )
    if len(req.approvals) >= req.approvals_needed:
        _issue(v, db, caller, req, requester, now)
    else:
        for custodian in deciders(v, db, req):
            if custodian.id not in {a.approver_id for a in req.approvals}:
                notifications.send(
                    v,
                    db,
                    custodian,
                    "request_waiting",
                    f"Access request #{req.id} needs a second approval",
                    link=f"/requests/{req.id}",
                    text="request_second_approval",
                    params={"request": req.id},
                )
    return req


def _issue(
    v: Vault, db: Session, caller: Caller, req: AccessRequest, requester: Person, now: datetime
) -> Grant:
    req.status = RequestStatus.APPROVED.value
    req.decided_at = now
    grant = Grant(
        request_id=req.id,
        person_id=req.requester_id,
        client_id=req.client_id,
        record_id=req.record_id,
        actions=req.actions,
        starts_at=now,
        expires_at=now + timedelta(minutes=req.duration_minutes),
    )
    db.add(grant)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.GRANT_ISSUE,
        outcome="ok",
        grant_id=str(grant.id),
        resource={
            "request": req.id,
            "grant": grant.id,
            "person": requester.id,
            "client": req.client_id,
            "record": req.record_id,
        },
        details={"actions": ",".join(grant.actions), "expires_at": grant.expires_at.isoformat()},
    )
    notifications.send(
        v,
        db,
        requester,
        "request_approved",
        f"Your access request #{req.id} was approved",
        f"Access until {grant.expires_at:%Y-%m-%d %H:%M} UTC.",
        link="/grants",
        params={"request": req.id, "until": f"{grant.expires_at:%Y-%m-%d %H:%M}"},
    )
    return grant


def deny(v: Vault, db: Session, caller: Caller, request_id: int, note: str = "") -> AccessRequest:
    """A custodian turns a request down (one denial ends it)."""
    req = _load_for_update(db, request_id)
    _decide_custody(v, db, caller, Action.REQUEST_DENY, req)
    now = utcnow()
    _ensure_pending(v, db, req, now)
    req.status = RequestStatus.DENIED.value
    req.decided_at = now
    req.decision_note = note[:500]
    auditing.record(
        v,
        db,
        caller,
        Action.REQUEST_DENY,
        outcome="ok",
        resource={"request": req.id, "client": req.client_id, "record": req.record_id},
    )
    requester = db.get(Person, req.requester_id)
    if requester is not None:
        notifications.send(
            v,
            db,
            requester,
            "request_denied",
            f"Your access request #{req.id} was turned down",
            note[:500],
            link=f"/requests/{req.id}",
            params={"request": req.id, "note": note[:500]},
        )
    return req


def withdraw(v: Vault, db: Session, caller: Caller, request_id: int) -> AccessRequest:
    """The requester withdraws a pending request."""
    require(v, db, caller, Action.REQUEST_WITHDRAW)
    req = _load_for_update(db, request_id)
    if req.requester_id != caller.person_id:
        raise NotFound("no such request", code="request_not_found")
    _ensure_pending(v, db, req, utcnow())
    req.status = RequestStatus.WITHDRAWN.value
    req.decided_at = utcnow()
    auditing.record(v, db, caller, Action.REQUEST_WITHDRAW, resource={"request": req.id})
    return req


def requests_for(
    db: Session,
    person: Person,
    *,
    mine: bool,
    status: str | None,
    v: Vault,
    limit: int,
    offset: int,
) -> list[AccessRequest]:
    """The person's own requests, or those waiting for them as a custodian."""
    stmt = select(AccessRequest).order_by(AccessRequest.id.desc())
    if mine:
        stmt = stmt.where(AccessRequest.requester_id == person.id)
    else:
        tiers = person.custodian_tiers()
        if not tiers:
            return []
        stmt = stmt.where(
            AccessRequest.tier.in_(sorted(tiers)), AccessRequest.requester_id != person.id
        )
    now = utcnow()
    if status == RequestStatus.PENDING:
        stmt = stmt.where(AccessRequest.status == status, AccessRequest.expires_at > now)
    elif status == RequestStatus.EXPIRED:
        stmt = stmt.where(
            or_(
                AccessRequest.status == status,
                (AccessRequest.status == RequestStatus.PENDING.value)
                & (AccessRequest.expires_at <= now),
            )
        )
    elif status:
        if status not in {s.value for s in RequestStatus}:
            raise InvalidInput("unknown status", code="invalid_status")
        stmt = stmt.where(AccessRequest.status == status)
    return list(db.scalars(stmt.limit(limit).offset(offset)))


def get_request(db: Session, person: Person, request_id: int) -> AccessRequest:
    """A request the person may see: their own, or one in their custody scope."""
    req = db.get(AccessRequest, request_id)
    if req is None or (
        req.requester_id != person.id
        and req.tier not in person.custodian_tiers()
        and not person.has_role(Role.AUDITOR)
    ):
        raise NotFound("no such request", code="request_not_found")
    return req


def expire_due(v: Vault, db: Session, caller: Caller, now: datetime | None = None) -> int:
    """Mark the pending requests past their deadline expired and note the end of each
    grant past its own (not revoked), one audit event each: the worker's scheduled job.
    Returns how many requests and grants it marked."""
    now = now or utcnow()
    due = list(
        db.scalars(
            select(AccessRequest)
            .where(
                AccessRequest.status == RequestStatus.PENDING.value,
                AccessRequest.expires_at <= now,
            )
            .order_by(AccessRequest.id)
            .with_for_update(skip_locked=True)
        )
    )
    for req in due:
        req.status = RequestStatus.EXPIRED.value
        auditing.record(
            v,
            db,
            caller,
            Action.REQUEST_EXPIRE,
            resource={"request": req.id, "client": req.client_id, "record": req.record_id},
        )
    ended = list(
        db.scalars(
            select(Grant)
            .where(
                Grant.expires_at <= now,
                Grant.revoked_at.is_(None),
                Grant.ended_at.is_(None),
            )
            .order_by(Grant.id)
            .with_for_update(skip_locked=True)
        )
    )
    for grant in ended:
        grant.ended_at = now
        auditing.record(
            v,
            db,
            caller,
            Action.GRANT_EXPIRE,
            resource={"grant": grant.id, "client": grant.client_id, "record": grant.record_id},
            grant_id=str(grant.id),
            details={"expires_at": grant.expires_at.isoformat()},
        )
    return len(due) + len(ended)
