"""People, roles, custodian designations and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault import auditing
from vault.caller import Caller
from vault.config import TIERS
from vault.errors import Conflict, Denied, InvalidInput, NotFound
from vault.models import ApiToken, Designation, Person, Role
from vault.policy import Action
from vault.runtime import Vault

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")
TOKEN_PREFIX = "avt_"


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


def designate(v: Vault, db: Session, caller: Caller, person: Person, tiers: list[str]) -> Designation:
    """Designate ``person`` custodian for ``tiers`` (admin act; never oneself)."""
    if caller.person is None:
        # Designation must name a responsible admin: the operator alone may not designate.
        raise Denied("a designation needs an admin (--by)", code="designation_needs_admin")
    authorize(v, db, caller, Action.DESIGNATION_CREATE)
    if caller.person.id == person.id:
        decision_reason = "self_designation"
        auditing.record(
            v, db, caller, Action.DESIGNATION_CREATE, outcome="denied",
            resource={"person": person.id}, reason=decision_reason,
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
        v, db, caller, Action.DESIGNATION_CREATE,
        resource={"person": person.id, "designation": d.id}, details={"tiers": d.tiers},
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


def person_for_token(db: Session, token: str) -> Person | None:
    """The person a live token belongs to, or ``None``."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = db.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    return row.person if row is not None else None
