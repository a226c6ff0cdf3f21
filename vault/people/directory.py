"""People, their roles and hire dates.

Two acts here are under the two-person rule (:mod:`vault.proposals`): a hire date
counts for tenure only once a second admin confirmed it (``hire_date_confirm``, opened
by :func:`add_person`; ``hire_date_change``), and the admin and auditor roles are given
on a second admin's approval (``role_grant``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault import auditing, proposals
from vault.authz import Details, require
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import Conflict, InvalidInput, NotFound
from vault.identity import sessions
from vault.models import Person, PersonRole, Proposal, Role
from vault.policy import Action
from vault.runtime import Vault

# Roles that change who someone is in the vault: given only on a second admin's approval.
ELEVATED = (Role.ADMIN.value, Role.AUDITOR.value)
EARLIEST_HIRE = date(1900, 1, 1)

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")


def parse_roles(roles: list[str] | tuple[str, ...] | str) -> tuple[str, ...]:
    """Validate roles and return them sorted; ``custodian`` is refused on purpose."""
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
    return tuple(sorted(names))


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
    """Create a person (admin act, audited); their hire date and any admin or auditor role
    wait for a second admin (proposals ``hire_date_confirm`` and ``role_grant``).

    The first admin of an empty vault is the operator's bootstrap: while no admin exists,
    the operator's roles take effect at once (there is nobody yet to approve them).
    """
    require(v, db, caller, Action.PERSON_CREATE)
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise InvalidInput(f"not an e-mail address: {email!r}", code="invalid_email")
    name = name.strip()
    if not 0 < len(name) <= 200:
        raise InvalidInput("name must be 1 to 200 characters", code="invalid_name")
    _check_hire_date(hired_on)
    wanted = parse_roles(roles)
    bootstrap = caller.person_id is None and not _has_admin(db)
    elevated = () if bootstrap else tuple(r for r in wanted if r in ELEVATED)
    given = tuple(r for r in wanted if r not in elevated) or (Role.EMPLOYEE.value,)
    person = Person(email=email, name=name, hired_on=hired_on, roles=given)
    db.add(person)
    try:
        db.flush()
    except IntegrityError:
        raise Conflict(f"{email} already exists", code="person_exists") from None
    auditing.record(
        v,
        db,
        caller,
        Action.PERSON_CREATE,
        resource={"person": person.id},
        details={"roles": ",".join(given), "proposed_roles": ",".join(elevated) or None},
    )
    proposals.propose_on_behalf(
        v,
        db,
        caller,
        HIRE_CONFIRM,
        person,
        {"hired_on": hired_on.isoformat()},
        "hire date of a new person",
    )
    for role in elevated:
        if caller.person_id is None:
            proposals.propose_on_behalf(
                v, db, caller, ROLE_GRANT, person, {"role": role}, "role of a new person"
            )
        else:
            proposals.propose(
                v, db, caller, ROLE_GRANT, person, {"role": role}, "role of a new person"
            )
    return person


def _has_admin(db: Session) -> bool:
    found = db.scalar(
        select(func.count()).select_from(PersonRole).where(PersonRole.role == Role.ADMIN.value)
    )
    return bool(found)


def _check_hire_date(day: date) -> None:
    if day > date.today():
        raise InvalidInput("hire date is in the future", code="invalid_hire_date")
    if day < EARLIEST_HIRE:
        raise InvalidInput("the hire date is out of range", code="invalid_hire_date")


def propose_hire_date(
    v: Vault, db: Session, caller: Caller, person: Person, day: date, *, reason: str
) -> Proposal:
    """Propose a new hire date for ``person``; it counts once a second admin approves."""
    return proposals.propose(
        v, db, caller, HIRE_CHANGE, person, {"hired_on": day.isoformat()}, reason
    )


def propose_role(
    v: Vault, db: Session, caller: Caller, person: Person, role: str, *, reason: str
) -> Proposal:
    """Propose giving ``person`` the admin or auditor role (a second admin approves)."""
    return proposals.propose(v, db, caller, ROLE_GRANT, person, {"role": role}, reason)


HIRE_CONFIRM = "hire_date_confirm"
HIRE_CHANGE = "hire_date_change"
ROLE_GRANT = "role_grant"


def _day(payload: dict[str, Any]) -> date:
    raw = payload.get("hired_on")
    try:
        day = date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput("the hire date is written YYYY-MM-DD", code="invalid_hire_date")
    _check_hire_date(day)
    return day


def _validate_confirm(
    v: Vault, db: Session, person: Person | None, payload: dict[str, Any]
) -> dict[str, Any]:
    assert person is not None
    day = _day(payload)
    if person.hired_on != day:
        raise Conflict("the hire date changed since this was proposed", code="proposal_stale")
    if person.hired_on_confirmed_at is not None:
        raise Conflict("this hire date is already confirmed", code="hire_date_confirmed")
    return {"hired_on": day.isoformat()}


def _validate_change(
    v: Vault, db: Session, person: Person | None, payload: dict[str, Any]
) -> dict[str, Any]:
    assert person is not None
    day = _day(payload)
    if person.hired_on == day and person.hired_on_confirmed_at is not None:
        raise Conflict("this is already the confirmed hire date", code="hire_date_confirmed")
    return {"hired_on": day.isoformat()}


def _apply_hire_date(
    v: Vault,
    db: Session,
    caller: Caller,
    proposal: Proposal,
    person: Person | None,
    payload: dict[str, Any],
) -> Details:
    assert person is not None
    previous = person.hired_on
    person.hired_on = date.fromisoformat(payload["hired_on"])
    person.hired_on_confirmed_at = utcnow()
    auditing.record(
        v,
        db,
        caller,
        Action.PERSON_HIRE_DATE,
        resource={"person": person.id},
        details={
            "hired_on": person.hired_on.isoformat(),
            "previous_hired_on": previous.isoformat(),
            "confirmed": True,
            **proposals.outcome_details(proposal, caller),
        },
    )
    return {"hired_on": person.hired_on.isoformat()}


def _validate_role(
    v: Vault, db: Session, person: Person | None, payload: dict[str, Any]
) -> dict[str, Any]:
    assert person is not None
    role = payload.get("role")
    if role not in ELEVATED:
        raise InvalidInput(
            f"the role proposed must be one of {', '.join(ELEVATED)}", code="invalid_role"
        )
    if person.has_role(role):
        raise Conflict(f"{person.email} is already {role}", code="role_held")
    if person.leaving_on is not None:
        raise Conflict("a departing person is given no role", code="person_departing")
    return {"role": role}


def _apply_role(
    v: Vault,
    db: Session,
    caller: Caller,
    proposal: Proposal,
    person: Person | None,
    payload: dict[str, Any],
) -> Details:
    assert person is not None
    previous = person.roles
    person.roles = (*previous, payload["role"])
    # A sign-in made before the new role does not carry it: every session ends now.
    sessions.end_all_sessions(v, db, caller, person, "role_granted")
    auditing.record(
        v,
        db,
        caller,
        Action.ROLE_GRANT,
        resource={"person": person.id},
        details={
            "role": payload["role"],
            "roles": ",".join(person.roles),
            "previous_roles": ",".join(previous),
            **proposals.outcome_details(proposal, caller),
        },
    )
    return {"role": payload["role"]}


for _kind in (
    proposals.Kind(
        name=HIRE_CONFIRM,
        action=Action.PERSON_HIRE_DATE,
        validate=_validate_confirm,
        apply=_apply_hire_date,
        describe=lambda payload: f"confirm hire date {payload.get('hired_on', '')}",
    ),
    proposals.Kind(
        name=HIRE_CHANGE,
        action=Action.PERSON_HIRE_DATE,
        validate=_validate_change,
        apply=_apply_hire_date,
        describe=lambda payload: f"hire date {payload.get('hired_on', '')}",
    ),
    proposals.Kind(
        name=ROLE_GRANT,
        action=Action.ROLE_GRANT,
        validate=_validate_role,
        apply=_apply_role,
        describe=lambda payload: f"role {payload.get('role', '')}",
    ),
):
    proposals.register(_kind)


def get_by_email(db: Session, email: str) -> Person:
    """The person with ``email``, or NotFound."""
    person = db.scalar(select(Person).where(Person.email == email.strip().lower()))
    if person is None:
        raise NotFound(f"no person with e-mail {email}", code="person_not_found")
    return person


def list_people(
    db: Session,
    *,
    q: str | None = None,
    role: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Person]:
    """People by e-mail, optionally those whose e-mail or name contains ``q``, or those
    holding ``role``."""
    stmt = select(Person).order_by(Person.email)
    if q:
        stmt = stmt.where(Person.email.contains(q.lower()) | Person.name.contains(q))
    if role:
        stmt = stmt.where(
            select(PersonRole.person_id)
            .where(PersonRole.person_id == Person.id, PersonRole.role == role)
            .exists()
        )
    return list(db.scalars(stmt.limit(limit).offset(offset)))


def get_person(db: Session, person_id: int) -> Person:
    """A person by id, or NotFound."""
    person = db.get(Person, person_id)
    if person is None:
        raise NotFound("no such person", code="person_not_found")
    return person


def names_of(db: Session, person_ids: set[int]) -> dict[int, Person]:
    """People by id, in one query (for pages that name the people of many rows)."""
    if not person_ids:
        return {}
    return {p.id: p for p in db.scalars(select(Person).where(Person.id.in_(person_ids)))}
