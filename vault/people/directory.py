"""People, roles, custodian designations and API tokens."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault import auditing
from vault.authz import require
from vault.caller import Caller
from vault.errors import Conflict, InvalidInput, NotFound
from vault.models import Person, Role
from vault.policy import Action
from vault.runtime import Vault

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
    """Create a person (admin act, audited)."""
    require(v, db, caller, Action.PERSON_CREATE)
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
        raise Conflict(f"{email} already exists", code="person_exists") from None
    auditing.record(v, db, caller, Action.PERSON_CREATE, resource={"person": person.id})
    return person


def get_by_email(db: Session, email: str) -> Person:
    """The person with ``email``, or NotFound."""
    person = db.scalar(select(Person).where(Person.email == email.strip().lower()))
    if person is None:
        raise NotFound(f"no person with e-mail {email}", code="person_not_found")
    return person


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
