"""Legal holds (冻结): records kept from disposal, whatever their date.

A hold names a client (its whole file, records filed later included) or a list of
records, with a reason and who placed it. Placing one is one person's act (a custodian
of the client's tier, or an admin); lifting it is a proposal a second admin approves
(``hold:lift``, the two-person rule). Disposal refuses any held record, at proposal and
again when it is carried out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import auditing, authz, proposals
from vault.authz import Details
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import Conflict, InvalidInput, NotFound
from vault.models import Client, LegalHold, LegalHoldRecord, Person, Proposal, Record
from vault.policy import Action, Target
from vault.proposals import Payload
from vault.runtime import Vault

REASON_MIN, REASON_MAX = 3, 500
MAX_RECORDS = 1000


@dataclass(frozen=True)
class HoldView:
    """A hold as lists and cards show it."""

    id: int
    client_id: int | None
    client_code: str | None
    record_ids: tuple[int, ...]
    reason: str
    placed_by: str | None
    placed_at: datetime
    lifted_at: datetime | None

    def as_json(self) -> dict[str, object]:
        """The API's view of the hold."""
        return {
            "id": self.id,
            "client_id": self.client_id,
            "client_code": self.client_code,
            "record_ids": list(self.record_ids),
            "reason": self.reason,
            "placed_by": self.placed_by,
            "placed_at": self.placed_at.isoformat(),
            "lifted_at": self.lifted_at.isoformat() if self.lifted_at else None,
        }


def _active() -> object:
    return LegalHold.lifted_at.is_(None)


def held_ids(db: Session, records: Sequence[Record]) -> set[int]:
    """Which of ``records`` a hold in force keeps (on their client or on themselves)."""
    if not records:
        return set()
    clients = set(
        db.scalars(
            select(LegalHold.client_id).where(
                LegalHold.lifted_at.is_(None), LegalHold.client_id.is_not(None)
            )
        )
    )
    ids = [r.id for r in records]
    listed: set[int] = set()
    for start in range(0, len(ids), 500):
        listed |= set(
            db.scalars(
                select(LegalHoldRecord.record_id)
                .join(LegalHold, LegalHold.id == LegalHoldRecord.hold_id)
                .where(
                    LegalHold.lifted_at.is_(None),
                    LegalHoldRecord.record_id.in_(ids[start : start + 500]),
                )
            )
        )
    return {r.id for r in records if r.client_id in clients or r.id in listed}


def holds_on(db: Session, record: Record) -> list[HoldView]:
    """The holds in force that keep ``record``."""
    stmt = (
        select(LegalHold)
        .outerjoin(LegalHoldRecord, LegalHoldRecord.hold_id == LegalHold.id)
        .where(
            LegalHold.lifted_at.is_(None),
            (LegalHold.client_id == record.client_id) | (LegalHoldRecord.record_id == record.id),
        )
        .distinct()
        .order_by(LegalHold.id)
    )
    return [_view(db, h) for h in db.scalars(stmt)]


def client_held(db: Session, client_id: int) -> bool:
    """Whether a hold in force names the client's whole file."""
    return (
        db.scalar(
            select(LegalHold.id)
            .where(LegalHold.lifted_at.is_(None), LegalHold.client_id == client_id)
            .limit(1)
        )
        is not None
    )


def _view(db: Session, hold: LegalHold) -> HoldView:
    client = db.get(Client, hold.client_id) if hold.client_id is not None else None
    placed = db.get(Person, hold.placed_by_id) if hold.placed_by_id is not None else None
    ids = tuple(
        db.scalars(
            select(LegalHoldRecord.record_id)
            .where(LegalHoldRecord.hold_id == hold.id)
            .order_by(LegalHoldRecord.record_id)
        )
    )
    return HoldView(
        hold.id,
        hold.client_id,
        client.code if client else None,
        ids,
        hold.reason,
        placed.email if placed else None,
        hold.placed_at,
        hold.lifted_at,
    )


def listing(
    v: Vault, db: Session, caller: Caller, *, active_only: bool = True, limit: int = 100
) -> list[HoldView]:
    """Holds (in force by default), newest first: custodians, admins and auditors."""
    authz.require(v, db, caller, Action.DISPOSAL_READ)
    stmt = select(LegalHold)
    if active_only:
        stmt = stmt.where(LegalHold.lifted_at.is_(None))
    return [_view(db, h) for h in db.scalars(stmt.order_by(LegalHold.id.desc()).limit(limit))]


def get(db: Session, hold_id: int) -> LegalHold:
    """A hold by id, or NotFound."""
    hold = db.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound("no such legal hold", code="hold_not_found")
    return hold


def view(db: Session, hold: LegalHold) -> HoldView:
    """The hold as lists show it."""
    return _view(db, hold)


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise InvalidInput(
            f"a reason of {REASON_MIN} to {REASON_MAX} characters is required",
            code="missing_reason",
        )
    return text


def place(
    v: Vault,
    db: Session,
    caller: Caller,
    *,
    reason: str,
    client_id: int | None = None,
    record_ids: Sequence[int] = (),
) -> LegalHold:
    """Place a hold on a client's file or on a list of records (one person's act).

    Raises:
        InvalidInput: neither or both of a client and records, too many records, no reason.
        NotFound: an unknown client or record.
        Denied: not a custodian of every tier concerned (nor an admin).
    """
    text = _reason(reason)
    ids = sorted(set(record_ids))
    if (client_id is None) == (not ids):
        raise InvalidInput("name a client or a list of records", code="invalid_hold_target")
    if len(ids) > MAX_RECORDS:
        raise InvalidInput(f"at most {MAX_RECORDS} records per hold", code="too_many_records")
    targets: dict[int, Client] = {}
    if client_id is not None:
        client = db.get(Client, client_id)
        if client is None:
            raise authz.refuse(
                NotFound("no such client", code="client_not_found"),
                v,
                caller,
                Action.HOLD_PLACE,
                resource={"client": client_id},
            )
        targets[client.id] = client
    else:
        found = {r.id: r for r in db.scalars(select(Record).where(Record.id.in_(ids)))}
        missing = [i for i in ids if i not in found]
        if missing:
            raise authz.refuse(
                NotFound(f"no such record: {missing[0]}", code="record_not_found"),
                v,
                caller,
                Action.HOLD_PLACE,
                resource={"record": missing[0]},
            )
        for r in found.values():
            targets[r.client_id] = r.client
    for client in targets.values():
        authz.require(
            v,
            db,
            caller,
            Action.HOLD_PLACE,
            Target(record_id=None, client_id=client.id, tier=client.tier),
            resource={"client": client.id},
            is_requester=False,
        )
    hold = LegalHold(client_id=client_id, reason=text, placed_by_id=caller.person_id)
    db.add(hold)
    db.flush()
    for record_id in ids:
        db.add(LegalHoldRecord(hold_id=hold.id, record_id=record_id))
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.HOLD_PLACE,
        resource={"hold": hold.id, "client": client_id},
        details={
            "reason": text,
            "records": len(ids) or None,
            "record_ids": ",".join(map(str, ids[:50])) or None,
        },
    )
    return hold


# ---- Lifting: the two-person rule ------------------------------------------------------


def _validate(v: Vault, db: Session, subject: Person | None, payload: Payload) -> Payload:
    hold_id = payload.get("hold")
    if not isinstance(hold_id, int) or isinstance(hold_id, bool):
        raise InvalidInput("name the hold to lift", code="missing_hold")
    hold = get(db, hold_id)
    if hold.lifted_at is not None:
        raise Conflict("this hold was already lifted", code="hold_lifted")
    return {"hold": hold.id, "client": hold.client_id}


def _apply(
    v: Vault,
    db: Session,
    caller: Caller,
    proposal: Proposal,
    subject: Person | None,
    payload: Payload,
) -> Details:
    hold = get(db, int(payload["hold"]))
    hold.lifted_at = utcnow()
    hold.lifted_by_id = caller.person_id
    auditing.record(
        v,
        db,
        caller,
        Action.HOLD_LIFT,
        resource={"hold": hold.id, "client": hold.client_id},
        details=proposals.outcome_details(proposal, caller),
    )
    return {"hold": hold.id}


def describe(payload: Payload) -> str:
    """One line for lists."""
    return f"lift legal hold #{payload.get('hold')}"


KIND = proposals.register(
    proposals.Kind(
        name="legal_hold_lift",
        action=Action.HOLD_LIFT,
        validate=_validate,
        apply=_apply,
        describe=describe,
        needs_subject=False,
    )
)


def propose_lift(v: Vault, db: Session, caller: Caller, hold_id: int, reason: str) -> Proposal:
    """Propose lifting a hold (an admin); it is lifted when a second admin approves."""
    return proposals.propose(v, db, caller, KIND.name, None, {"hold": hold_id}, reason)
