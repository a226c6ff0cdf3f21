"""Custodian designations: an admin proposes a person custodian for tiers, a second approves.

Designating is under the two-person rule (:mod:`vault.proposals`): :func:`designate`
opens a proposal, and the :class:`~vault.models.Designation` exists only once a
different admin, who is not the person designated, approves it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import auditing, proposals
from vault.authz import Details, refuse, require
from vault.caller import Caller
from vault.config import TIERS
from vault.errors import Conflict, Denied, InvalidInput
from vault.models import Designation, Person, Proposal
from vault.policy import Action
from vault.runtime import Vault

KIND = "designation"


def designate(
    v: Vault, db: Session, caller: Caller, person: Person, tiers: list[str], *, reason: str
) -> Proposal:
    """Propose ``person`` as custodian for ``tiers`` (an admin; never oneself).

    Nothing is designated until a second admin approves the proposal it returns.
    """
    if caller.person_id is None:
        # Designation must name a responsible admin: the operator alone may not designate.
        raise Denied("a designation needs an admin (--by)", code="designation_needs_admin")
    # May they designate anyone at all (role_required otherwise), before the self check.
    require(v, db, caller, Action.DESIGNATION_CREATE, resource={"person": person.id})
    if caller.person_id == person.id:
        raise refuse(
            Denied("nobody may designate themselves", code="self_designation"),
            v,
            caller,
            Action.DESIGNATION_CREATE,
            resource={"person": person.id},
        )
    return proposals.propose(v, db, caller, KIND, person, {"tiers": tiers}, reason)


def _validate(v: Vault, db: Session, person: Person | None, payload: dict[str, Any]) -> dict:
    raw = payload.get("tiers")
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise InvalidInput(f"tiers must be among {', '.join(TIERS)}", code="invalid_tier")
    wanted = sorted({t.strip().lower() for t in raw if t.strip()})
    if not wanted or set(wanted) - set(TIERS):
        raise InvalidInput(f"tiers must be among {', '.join(TIERS)}", code="invalid_tier")
    assert person is not None
    if person.leaving_on is not None:
        raise Conflict("a departing person cannot be designated", code="person_departing")
    return {"tiers": wanted}


def _apply(
    v: Vault,
    db: Session,
    caller: Caller,
    proposal: Proposal,
    person: Person | None,
    payload: dict[str, Any],
) -> Details:
    assert person is not None and proposal.proposed_by_id is not None
    d = Designation(
        person_id=person.id,
        tiers=payload["tiers"],
        designated_by_id=proposal.proposed_by_id,
        approved_by_id=caller.person_id,
    )
    db.add(d)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.DESIGNATION_CREATE,
        resource={"person": person.id, "designation": d.id},
        details={"tiers": ",".join(d.tiers), **proposals.outcome_details(proposal, caller)},
    )
    db.refresh(person)
    return {"designation": d.id}


proposals.register(
    proposals.Kind(
        name=KIND,
        action=Action.DESIGNATION_CREATE,
        validate=_validate,
        apply=_apply,
        describe=lambda payload: ", ".join(payload.get("tiers", [])),
    )
)


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
