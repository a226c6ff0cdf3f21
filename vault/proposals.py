"""The two-person rule (DESIGN §3.10): one admin proposes, a second admin approves.

Every act that creates access or changes who someone is (a custodian designation, a
hire date, the admin or auditor role, taking back or postponing a leaving date; key
retirement and site policies to come) is first a :class:`~vault.models.Proposal`. It
takes effect only when a different admin, who is not the person it is about, approves
it within seven days; both steps and the outcome are audited.

A kind of proposal is registered once, by the service that owns the act::

    register(Kind(
        name="designation",                 # stored in Proposal.kind; stable
        action=Action.DESIGNATION_CREATE,   # the act; must be in PROPOSED_ACTIONS
        validate=check_tiers,               # (v, db, subject, payload) -> payload
        apply=make_designation,             # (v, db, caller, proposal, subject, payload)
        describe=lambda payload: ...,       # one line for lists: "core, special"
    ))

- ``action`` is decided with :func:`vault.authz.require` when proposing and again when
  approving, with the context flags ``approving``, ``is_proposer`` and ``is_subject``
  (``ProposalContext`` in ``vault.cedarschema``). The rules "not the proposer" and "not
  the subject" are Cedar forbids (``forbid-own-proposal``, ``forbid-subject-approval``,
  ``forbid-self-proposal`` in ``vault.cedar``), so a site policy sees and may tighten
  them. A new action needs its enum member in ``PROPOSED_ACTIONS``, a place in the
  schema's ``ProposalContext`` action list, the three forbids' lists and a permit.
- ``validate(v, db, subject, payload)`` checks the payload and returns it normalised
  (JSON-able, never a secret); it raises ``InvalidInput`` (or ``Conflict`` when the
  subject's state forbids the act). It runs when proposing and again when approving.
- ``apply(v, db, caller, proposal, subject, payload)`` does the act in the approver's
  unit of work (``caller`` is the approver) and writes the act's own audit event (use
  :func:`outcome_details` for its details); it returns details for the approval event.
- ``needs_subject``: the act is about a person (``Proposal.subject_id``); ``False``
  for acts on the vault (a key, a site policy).

:func:`propose` refuses the operator (the CLI acting without ``--by``): an act under the
rule names the admin responsible. Only :func:`propose_on_behalf` opens one for an act the
operator already did (the hire date of a person the operator created); an admin still
approves it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import auditing
from vault.authz import Details, refuse, require
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import Conflict, Denied, InvalidInput, NotFound
from vault.models import Person, Proposal, ProposalStatus
from vault.policy import Action
from vault.runtime import Vault

LIFETIME = timedelta(days=7)
REASON_MAX = 500

Payload = dict[str, Any]
Validate = Callable[[Vault, Session, Person | None, Payload], Payload]
Apply = Callable[[Vault, Session, Caller, Proposal, Person | None, Payload], Details]


@dataclass(frozen=True)
class Kind:
    """One kind of proposal: the act it proposes, how to check it and how to do it."""

    name: str
    action: Action
    validate: Validate
    apply: Apply
    describe: Callable[[Payload], str] = lambda payload: ""
    needs_subject: bool = True


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Make ``kind`` known (once per name); returns it."""
    if not kind.action.proposed:
        raise ValueError(f"{kind.action} is not in PROPOSED_ACTIONS")
    known = _KINDS.get(kind.name)
    if known is not None and known != kind:
        raise ValueError(f"proposal kind {kind.name!r} is already registered")
    _KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> Kind:
    """The registered kind ``name``, or Conflict (a proposal of a kind this vault lacks)."""
    kind = _KINDS.get(name)
    if kind is None:
        raise Conflict(f"unknown proposal kind {name!r}", code="unknown_proposal_kind")
    return kind


def kinds() -> tuple[str, ...]:
    """The registered kinds' names, sorted."""
    return tuple(sorted(_KINDS))


def _needs_admin(v: Vault, caller: Caller, action: Action, resource: Mapping[str, object]) -> None:
    if caller.person_id is None:
        # The operator alone is nobody: a two-person act names the admin acting (--by).
        raise refuse(
            Denied(
                "this act needs an admin, and a second admin to approve it (--by)",
                code="proposal_needs_admin",
            ),
            v,
            caller,
            action,
            resource=resource,
        )


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why (a reason is required)", code="missing_reason")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"the reason is over {REASON_MAX} characters", code="invalid_reason")
    return reason


def propose(
    v: Vault,
    db: Session,
    caller: Caller,
    kind_name: str,
    subject: Person | None,
    payload: Payload,
    reason: str,
) -> Proposal:
    """Propose an act of ``kind_name`` about ``subject``; nothing takes effect yet.

    Raises:
        Denied: the operator, a caller the policy refuses, or one proposing for themselves.
        InvalidInput: a missing reason or a payload the kind refuses.
        Conflict: the same act is already waiting for approval.
    """
    kind = kind_of(kind_name)
    resource = {"person": subject.id if subject else None}
    _needs_admin(v, caller, kind.action, resource)
    assert caller.person_id is not None
    require(
        v,
        db,
        caller,
        kind.action,
        resource=resource,
        details={"kind": kind.name, "step": "propose"},
        approving=False,
        is_proposer=True,
        is_subject=subject is not None and subject.id == caller.person_id,
    )
    return _open(v, db, caller, kind, subject, payload, reason)


def propose_on_behalf(
    v: Vault,
    db: Session,
    caller: Caller,
    kind_name: str,
    subject: Person | None,
    payload: Payload,
    reason: str,
) -> Proposal:
    """Open a proposal for an act ``caller`` has just done as part of another (the hire
    date of a person they created); the operator may, and an admin must still approve."""
    kind = kind_of(kind_name)
    return _open(v, db, caller, kind, subject, payload, reason)


def _open(
    v: Vault,
    db: Session,
    caller: Caller,
    kind: Kind,
    subject: Person | None,
    payload: Payload,
    reason: str,
) -> Proposal:
    if kind.needs_subject and subject is None:
        raise InvalidInput("this proposal is about a person", code="missing_person")
    reason = _reason(reason)
    payload = kind.validate(v, db, subject, dict(payload))
    now = utcnow()
    proposal = Proposal(
        kind=kind.name,
        subject_id=subject.id if subject else None,
        reason=reason,
        proposed_by_id=caller.person_id,
        created_at=now,
        expires_at=now + LIFETIME,
        status=ProposalStatus.PENDING.value,
    )
    proposal.payload = payload
    for other in pending(db, subject=subject, kind=kind.name):
        if other.payload == proposal.payload and not other.is_expired(now):
            raise Conflict(
                f"the same proposal (#{other.id}) is waiting for a second admin",
                code="proposal_pending",
            )
    db.add(proposal)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.PROPOSAL_CREATE,
        resource={"proposal": proposal.id, "person": proposal.subject_id},
        details={
            "kind": kind.name,
            "act": kind.action.value,
            "reason": reason,
            "summary": kind.describe(payload),
            "expires_at": proposal.expires_at.isoformat(),
        },
    )
    return proposal


def get(db: Session, proposal_id: int) -> Proposal:
    """A proposal by id, or NotFound."""
    proposal = db.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound("no such proposal", code="proposal_not_found")
    return proposal


def pending(
    db: Session,
    *,
    subject: Person | None = None,
    kind: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[Proposal]:
    """Proposals still waiting (expired ones not yet marked included), oldest first."""
    stmt = select(Proposal).where(Proposal.status == ProposalStatus.PENDING.value)
    if subject is not None:
        stmt = stmt.where(Proposal.subject_id == subject.id)
    if kind is not None:
        stmt = stmt.where(Proposal.kind == kind)
    return list(db.scalars(stmt.order_by(Proposal.id).limit(limit).offset(offset)))


def listing(
    db: Session, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[Proposal]:
    """Proposals, newest first, optionally of one stored ``status``."""
    stmt = select(Proposal)
    if status is not None:
        stmt = stmt.where(Proposal.status == status)
    return list(db.scalars(stmt.order_by(Proposal.id.desc()).limit(limit).offset(offset)))


def read(v: Vault, db: Session, caller: Caller) -> None:
    """Refuse (audited) anyone who may not see proposals."""
    require(v, db, caller, Action.PROPOSAL_READ)


def _locked(db: Session, proposal: Proposal) -> Proposal:
    """The proposal re-read under a row lock: two admins deciding at once, one wins."""
    found = db.scalar(select(Proposal).where(Proposal.id == proposal.id).with_for_update())
    assert found is not None
    db.refresh(found)
    return found


def _still_pending(v: Vault, caller: Caller, proposal: Proposal, action: Action) -> None:
    """Refuse (409, audited) a decided proposal, or one past its expiry (marked expired)."""
    resource = {"proposal": proposal.id, "person": proposal.subject_id}
    if proposal.status != ProposalStatus.PENDING.value:
        raise refuse(
            Conflict(f"this proposal is already {proposal.status}", code="proposal_decided"),
            v,
            caller,
            action,
            resource=resource,
        )
    now = utcnow()
    if proposal.is_expired(now):
        proposal_id = proposal.id

        def mark_expired(session: Session) -> None:
            # Kept after the rollback of the refused approval, in the boundary's own
            # transaction: the proposal reads expired for everyone from now on.
            found = session.get(Proposal, proposal_id)
            if found is not None and found.status == ProposalStatus.PENDING.value:
                found.status = ProposalStatus.EXPIRED.value
                found.decided_at = now
                auditing.record(
                    v,
                    session,
                    caller,
                    Action.PROPOSAL_EXPIRE,
                    resource=resource,
                    details={"kind": found.kind},
                )

        raise refuse(
            Conflict(
                "this proposal expired (7 days): propose it again",
                code="proposal_expired",
                keep=(mark_expired,),
            ),
            v,
            caller,
            action,
            resource=resource,
        )


def _note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > REASON_MAX:
        raise InvalidInput(f"the note is over {REASON_MAX} characters", code="invalid_note")
    return note


def _subject(db: Session, proposal: Proposal) -> Person | None:
    return db.get(Person, proposal.subject_id) if proposal.subject_id is not None else None


def approve(v: Vault, db: Session, caller: Caller, proposal: Proposal, note: str = "") -> Proposal:
    """Approve ``proposal`` as a second admin: the act takes effect now, in this unit of work.

    Raises:
        Denied: the operator; the proposer (``same_person_approval``); the person the act
            is about (``subject_approval``); anyone else the policy refuses.
        Conflict: already decided (``proposal_decided``) or expired (``proposal_expired``).
    """
    resource = {"proposal": proposal.id, "person": proposal.subject_id}
    _needs_admin(v, caller, Action.PROPOSAL_APPROVE, resource)
    assert caller.person_id is not None
    require(v, db, caller, Action.PROPOSAL_APPROVE, resource=resource)
    note = _note(note)
    proposal = _locked(db, proposal)
    kind = kind_of(proposal.kind)
    require(
        v,
        db,
        caller,
        kind.action,
        resource=resource,
        details={"kind": kind.name, "step": "approve"},
        approving=True,
        is_proposer=proposal.proposed_by_id == caller.person_id,
        is_subject=proposal.subject_id == caller.person_id,
    )
    _still_pending(v, caller, proposal, Action.PROPOSAL_APPROVE)
    subject = _subject(db, proposal)
    payload = kind.validate(v, db, subject, proposal.payload)
    proposal.status = ProposalStatus.APPROVED.value
    proposal.decided_by_id = caller.person_id
    proposal.decided_at = utcnow()
    proposal.decision_note = note
    db.flush()
    details = dict(kind.apply(v, db, caller, proposal, subject, payload))
    auditing.record(
        v,
        db,
        caller,
        Action.PROPOSAL_APPROVE,
        resource=resource,
        details={
            "kind": kind.name,
            "proposed_by": proposal.proposed_by_id,
            "note": note or None,
            **details,
        },
    )
    return proposal


def reject(v: Vault, db: Session, caller: Caller, proposal: Proposal, note: str) -> Proposal:
    """Turn ``proposal`` down (an admin, with a note); nothing of the act happens."""
    resource = {"proposal": proposal.id, "person": proposal.subject_id}
    _needs_admin(v, caller, Action.PROPOSAL_REJECT, resource)
    assert caller.person_id is not None
    require(v, db, caller, Action.PROPOSAL_REJECT, resource=resource)
    note = _note(note)
    if not note:
        raise InvalidInput("say why the proposal is turned down", code="missing_note")
    proposal = _locked(db, proposal)
    _still_pending(v, caller, proposal, Action.PROPOSAL_REJECT)
    return _close(v, db, caller, proposal, ProposalStatus.REJECTED, Action.PROPOSAL_REJECT, note)


def withdraw(v: Vault, db: Session, caller: Caller, proposal: Proposal, note: str = "") -> Proposal:
    """The proposer takes their own proposal back."""
    resource = {"proposal": proposal.id, "person": proposal.subject_id}
    _needs_admin(v, caller, Action.PROPOSAL_WITHDRAW, resource)
    assert caller.person_id is not None
    require(v, db, caller, Action.PROPOSAL_WITHDRAW, resource=resource)
    note = _note(note)
    proposal = _locked(db, proposal)
    if proposal.proposed_by_id != caller.person_id:
        raise refuse(
            Denied("only the proposer withdraws a proposal", code="not_proposer"),
            v,
            caller,
            Action.PROPOSAL_WITHDRAW,
            resource=resource,
        )
    _still_pending(v, caller, proposal, Action.PROPOSAL_WITHDRAW)
    return _close(v, db, caller, proposal, ProposalStatus.WITHDRAWN, Action.PROPOSAL_WITHDRAW, note)


def _close(
    v: Vault,
    db: Session,
    caller: Caller,
    proposal: Proposal,
    status: ProposalStatus,
    action: Action,
    note: str,
) -> Proposal:
    proposal.status = status.value
    proposal.decided_by_id = caller.person_id
    proposal.decided_at = utcnow()
    proposal.decision_note = note
    auditing.record(
        v,
        db,
        caller,
        action,
        resource={"proposal": proposal.id, "person": proposal.subject_id},
        details={"kind": proposal.kind, "note": note or None},
    )
    return proposal


def outcome_details(proposal: Proposal, caller: Caller) -> dict[str, str | int | bool | None]:
    """What the outcome act's audit event says of its proposal: id, proposer, approver."""
    return {
        "proposal": proposal.id,
        "proposed_by": proposal.proposed_by_id,
        "approved_by": caller.person_id,
    }


def describe(proposal: Proposal) -> str:
    """One line saying what ``proposal`` would do (for lists and the CLI)."""
    kind = _KINDS.get(proposal.kind)
    return kind.describe(proposal.payload) if kind is not None else ""


def expires_in(proposal: Proposal, now: datetime | None = None) -> timedelta:
    """Time left before ``proposal`` expires (zero or less: expired)."""
    return proposal.expires_at - (now or utcnow())
