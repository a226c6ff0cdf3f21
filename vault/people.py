"""People, roles, custodian designations and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from vault import auditing
from vault.caller import Caller
from vault.config import TIERS
from vault.db import utcnow
from vault.errors import Conflict, Denied, InvalidInput, NotFound
from vault.models import ApiToken, Designation, Person, Role
from vault.policy import Action
from vault.runtime import Vault

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")
TOKEN_PREFIX = "avt_"  # noqa: S105 - a public marker, not a secret


def authorize(v: Vault, db: Session, caller: Caller, action: Action) -> None:
    """Decide a vault-wide act for ``caller``; a denial is audited, committed and raised."""
    if caller.person is None:
        return  # the local operator holds the keyring: the CLI acts as the installation
    decision = v.policy.decide(caller.principal(date.today()), action)
    if not decision:
        auditing.record(v, db, caller, action, decision=decision)
        db.commit()
        raise Denied(decision.message, code=decision.reason)


def parse_roles(roles: list[str] | tuple[str, ...] | str) -> str:
    """Validate roles and return their stored form; ``custodian`` is refused on purpose."""
    items = roles.split(",") if isinstance(roles, str) else list(roles)
    names = {r.strip().lower() for r in items if r.strip()} or {Role.EMPLOYEE.value}
    if "custodian" in names:
        raise InvalidInput(
            "custodian is not a role: an admin designates custodians with 'designate'",
            code="custodian_not_a_role",
        )
    valid = {r.value for r in Role}
    bad = names - valid
    if bad:
        raise InvalidInput(f"unknown role(s): {', '.join(sorted(bad))}", code="invalid_role")
    return ",".join(sorted(names))


def add_person(
    v: Vault,
    db: Session,
    caller: Caller,
    *,
    email: str,
    name: str,
    hired_on: date,
    roles: list[str] | tuple[str, ...] | str = ("employee",),
) -> Person:
    """Create a person (admin act, audited)."""
    authorize(v, db, caller, Action.PERSON_CREATE)
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise InvalidInput(f"not an e-mail address: {email!r}", code="invalid_email")
    name = name.strip()
    if not 0 < len(name) <= 200:
        raise InvalidInput("name must be 1 to 200 characters", code="invalid_name")
    if hired_on > date.today():
        raise InvalidInput("hire date is in the future", code="invalid_hire_date")
    person = Person(email=email, name=name, hired_on=hired_on, roles=parse_roles(roles))
    db.add(person)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise Conflict(f"{email} already exists", code="person_exists") from None
    auditing.record(v, db, caller, Action.PERSON_CREATE, resource={"person": person.id})
    db.commit()
    return person


def get_by_email(db: Session, email: str) -> Person:
    """The person with ``email``, or NotFound."""
    person = db.scalar(select(Person).where(Person.email == email.strip().lower()))
    if person is None:
        raise NotFound(f"no person with e-mail {email}", code="person_not_found")
    return person


def designate(
    v: Vault, db: Session, caller: Caller, person: Person, tiers: list[str]
) -> Designation:
    """Designate ``person`` custodian for ``tiers`` (admin act; never oneself)."""
    if caller.person is None:
        # Designation must name a responsible admin: the operator alone may not designate.
        raise Denied("a designation needs an admin (--by)", code="designation_needs_admin")
    authorize(v, db, caller, Action.DESIGNATION_CREATE)
    if caller.person.id == person.id:
        decision_reason = "self_designation"
        auditing.record(
            v,
            db,
            caller,
            Action.DESIGNATION_CREATE,
            outcome="denied",
            resource={"person": person.id},
            reason=decision_reason,
        )
        db.commit()
        raise Denied("nobody may designate themselves", code=decision_reason)
    wanted = sorted({t.strip().lower() for t in tiers if t.strip()})
    if not wanted or set(wanted) - set(TIERS):
        raise InvalidInput(f"tiers must be among {', '.join(TIERS)}", code="invalid_tier")
    if person.leaving_on is not None:
        raise Conflict("a departing person cannot be designated", code="person_departing")
    d = Designation(person_id=person.id, tiers=",".join(wanted), designated_by_id=caller.person.id)
    db.add(d)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.DESIGNATION_CREATE,
        resource={"person": person.id, "designation": d.id},
        details={"tiers": d.tiers},
    )
    db.commit()
    db.refresh(person)
    return d


def hash_token(token: str) -> str:
    """The stored form of a bearer token (tokens are 256-bit random, so SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(v: Vault, db: Session, caller: Caller, person: Person, label: str = "") -> str:
    """Issue a bearer token for ``person``; the plain token is returned once, never stored."""
    authorize(v, db, caller, Action.TOKEN_ISSUE)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(person_id=person.id, token_hash=hash_token(token), label=label[:100])
    db.add(row)
    db.flush()
    auditing.record(
        v, db, caller, Action.TOKEN_ISSUE, resource={"person": person.id, "token": row.id}
    )
    db.commit()
    return token


# Every API request: built once, and one query brings the person with their designations.
_BY_TOKEN = (
    select(Person)
    .join(ApiToken, ApiToken.person_id == Person.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
    .options(joinedload(Person.designations))
)


def person_for_token(db: Session, token: str) -> Person | None:
    """The person a live token belongs to, or ``None``."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    return db.scalars(_BY_TOKEN, {"token_hash": hash_token(token)}).unique().first()


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
    from vault import grants as grant_service
    from vault.models import AccessRequest, Approval, Grant, RequestStatus

    if caller.person is not None:
        authorize(v, db, caller, Action.PERSON_DEPART)
        if caller.person.id == person.id and source == "admin":
            raise Denied("set your own leaving date through another admin", code="self_departure")
    if day < date(2000, 1, 1) or day > date.today().replace(year=date.today().year + 2):
        raise InvalidInput("the leaving date is out of range", code="invalid_leaving_date")
    previous = person.leaving_on
    person.leaving_on = day if previous is None else min(previous, day)
    now = utcnow()
    revoked = 0
    for grant in db.scalars(
        select(Grant).where(
            Grant.person_id == person.id, Grant.revoked_at.is_(None), Grant.expires_at > now
        )
    ):
        grant_service.revoke_grant(v, db, caller, grant, "departure")
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
    db.commit()
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
    v: Vault, db: Session, caller: Caller, person: Person, days: int | None = None
) -> list[Touch]:
    """Every record and client ``person`` consulted, copied, borrowed or deposited lately.

    Read from the audit log (allowed or completed acts only) for the last ``days``
    (default ``departure_report_days``) before now, so the company knows whom to call.
    Producing the report is itself audited.
    """
    from audit import audit_events
    from vault.models import Client, Record

    authorize(v, db, caller, Action.DEPARTURE_REPORT)
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
        details={"days": days, "rows": len(touches)},
    )
    db.commit()
    return touches


REPORTED_ACTIONS = (
    "record:consult",
    "record:copy",
    "item:borrow",
    "item:checkout",
    "record:deposit",
    "client:create",
)


def list_people(
    db: Session, *, q: str | None = None, limit: int = 50, offset: int = 0
) -> list[Person]:
    """People by e-mail, optionally those whose e-mail or name contains ``q``."""
    stmt = select(Person).order_by(Person.email)
    if q:
        stmt = stmt.where(Person.email.contains(q.lower()) | Person.name.contains(q))
    return list(db.scalars(stmt.limit(limit).offset(offset)))


def get_person(db: Session, person_id: int) -> Person:
    """A person by id, or NotFound."""
    person = db.get(Person, person_id)
    if person is None:
        raise NotFound("no such person", code="person_not_found")
    return person


def tokens_of(db: Session, person: Person) -> list[ApiToken]:
    """A person's bearer tokens, newest first (their hashes only; tokens are never kept)."""
    return list(
        db.scalars(
            select(ApiToken).where(ApiToken.person_id == person.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(v: Vault, db: Session, caller: Caller, token_id: int) -> ApiToken:
    """Revoke a bearer token at once (admin act, audited); revoking twice is a conflict."""
    authorize(v, db, caller, Action.TOKEN_REVOKE)
    row = db.get(ApiToken, token_id)
    if row is None:
        raise NotFound("no such token", code="token_not_found")
    if row.revoked_at is not None:
        raise Conflict("this token is already revoked", code="token_revoked")
    row.revoked_at = utcnow()
    auditing.record(
        v, db, caller, Action.TOKEN_REVOKE, resource={"person": row.person_id, "token": row.id}
    )
    db.commit()
    return row


def designations(db: Session, *, limit: int = 100, offset: int = 0) -> list[Designation]:
    """Active custodian designations, newest first."""
    return list(
        db.scalars(
            select(Designation)
            .where(Designation.revoked_at.is_(None))
            .order_by(Designation.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
