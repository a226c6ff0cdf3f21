"""Custodian designations: an admin names a person custodian for tiers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import auditing
from vault.authz import refuse, require
from vault.caller import Caller
from vault.config import TIERS
from vault.errors import Conflict, Denied, InvalidInput
from vault.models import Designation, Person
from vault.policy import Action
from vault.runtime import Vault


def designate(
    v: Vault, db: Session, caller: Caller, person: Person, tiers: list[str]
) -> Designation:
    """Designate ``person`` custodian for ``tiers`` (admin act; never oneself)."""
    if caller.person is None:
        # Designation must name a responsible admin: the operator alone may not designate.
        raise Denied("a designation needs an admin (--by)", code="designation_needs_admin")
    require(v, db, caller, Action.DESIGNATION_CREATE)
    if caller.person.id == person.id:
        raise refuse(
            Denied("nobody may designate themselves", code="self_designation"),
            v,
            caller,
            Action.DESIGNATION_CREATE,
            resource={"person": person.id},
        )
    wanted = sorted({t.strip().lower() for t in tiers if t.strip()})
    if not wanted or set(wanted) - set(TIERS):
        raise InvalidInput(f"tiers must be among {', '.join(TIERS)}", code="invalid_tier")
    if person.leaving_on is not None:
        raise Conflict("a departing person cannot be designated", code="person_departing")
    d = Designation(person_id=person.id, tiers=wanted, designated_by_id=caller.person.id)
    db.add(d)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.DESIGNATION_CREATE,
        resource={"person": person.id, "designation": d.id},
        details={"tiers": ",".join(d.tiers)},
    )
    db.refresh(person)
    return d


def designations(db: Session, *, limit: int = 100, offset: int = 0) -> list[Designation]:
    """Active custodian designations, newest first."""
    return list(
        db.scalars(
            select(Designation)
            .where(Designation.revoked_at.is_(None))
            .order_by(Designation.id.desc())
            .limit(limit)
            .offset(offset)
        ).unique()
    )
