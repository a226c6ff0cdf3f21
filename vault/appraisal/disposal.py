"""Disposal (销毁): records past their retention date, proposed, approved, crypto-shredded.

1. :func:`due` lists records past their date, not held, not disposed of, in no batch
   waiting for approval.
2. A custodian of every tier concerned proposes a batch (:func:`propose`); the records
   must be due then.
3. An admin who did not propose it approves (:func:`approve`); a batch with core records
   also needs a second custodian of the core tier, not the proposer
   (:func:`countersign`). Self-approval is refused by the policy
   (``forbid-own-batch``, ``forbid-own-batch-countersign``).
4. With the last approval the batch is carried out in the approver's unit of work: each
   record's key share is destroyed (``vault.crypto.shares``: the data key can no longer
   be rebuilt, from this database or any older copy of it), its ciphertext and wrapped
   key emptied, its attachment blobs removed once the act commits; its catalogue entry
   stays, marked disposed, with the batch (rule, approvers, date). A destruction
   certificate is drawn, signed and stored, and its digest goes in the audit event.

Held records are refused at every step: at proposal, and again when carried out (a hold
placed meanwhile stops the batch).

Before the shredding, the four-properties check runs over the batch's records (trigger
``disposal``: :func:`vault.appraisal.checks.check_records`, as the vault itself, in the
same unit of work). A fault does not stop the disposal: the records are past their
retention date and approved by the people the rules name, and keeping a record because
it is, say, no longer authentic would keep exactly what the schedule says must go. What
the check found is kept instead, where an archivist looks for it later: the run and its
findings (the record's card, the check's report), the auditors' alert, the run's id and
its count of faults in the ``disposal:carry_out`` event, and on the certificate, which
names the run and lists each record's faults under its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import auditing, authz
from vault.appraisal import certificates, checks, retention
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import Conflict, Denied, InvalidInput, NotFound
from vault.models import (
    Attachment,
    BatchStatus,
    DestructionCertificate,
    DisposalBatch,
    DisposalItem,
    Person,
    Record,
)
from vault.policy import Action, Target
from vault.runtime import Vault, after_commit

MAX_BATCH = 1000
REASON_MIN, REASON_MAX = 3, 500


@dataclass(frozen=True)
class DueRecord:
    """A record that may be proposed for disposal."""

    record: Record
    retention: retention.Retention


def _pending_ids(db: Session) -> set[int]:
    return set(
        db.scalars(
            select(DisposalItem.record_id)
            .join(DisposalBatch, DisposalBatch.id == DisposalItem.batch_id)
            .where(DisposalBatch.status == BatchStatus.PROPOSED.value)
        )
    )


def due(v: Vault, db: Session, caller: Caller, *, limit: int = 500) -> list[DueRecord]:
    """Records past their date and not held (custodians, admins, auditors)."""
    authz.require(v, db, caller, Action.DISPOSAL_READ)
    return _due(v, db, limit=limit)


def _due(v: Vault, db: Session, *, limit: int = 500) -> list[DueRecord]:
    schedule = retention.in_force(v, db).schedule
    pending = _pending_ids(db)
    out: list[DueRecord] = []
    chunk: list[Record] = []

    def flush() -> None:
        found = retention.retentions(v, db, chunk, schedule=schedule)
        out.extend(
            DueRecord(r, found[r.id])
            for r in chunk
            if found[r.id].state == retention.STATE_DUE and r.id not in pending
        )
        chunk.clear()

    for record in retention.all_records(db):
        chunk.append(record)
        if len(chunk) >= 1000:
            flush()
            if len(out) >= limit:
                break
    if chunk:
        flush()
    return out[:limit]


def _reason(text: str, code: str = "missing_reason") -> str:
    text = (text or "").strip()
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise InvalidInput(
            f"a reason of {REASON_MIN} to {REASON_MAX} characters is required", code=code
        )
    return text


def _refuse(
    v: Vault, caller: Caller, action: Action, error: Exception, **resource: object
) -> Exception:
    return authz.refuse(error, v, caller, action, resource=resource)


def _check_disposable(
    v: Vault, db: Session, caller: Caller, action: Action, records: Sequence[Record]
) -> dict[int, retention.Retention]:
    """Each record's retention; refuse (audited) one that is disposed, held or not due."""
    found = retention.retentions(v, db, records)
    for r in records:
        state = found[r.id].state
        if state == retention.STATE_DISPOSED:
            raise _refuse(
                v,
                caller,
                action,
                Conflict(f"record {r.id} was already disposed of", code="record_disposed"),
                record=r.id,
            )
        if state == retention.STATE_HELD:
            raise _refuse(
                v,
                caller,
                action,
                Conflict(f"record {r.id} is under a legal hold", code="record_held"),
                record=r.id,
            )
        if state != retention.STATE_DUE:
            raise _refuse(
                v,
                caller,
                action,
                Conflict(
                    f"record {r.id} is not past its retention date ({state})", code="record_not_due"
                ),
                record=r.id,
            )
    return found


def propose(
    v: Vault, db: Session, caller: Caller, record_ids: Sequence[int], reason: str
) -> DisposalBatch:
    """A custodian of every tier concerned proposes a batch of due records."""
    text = _reason(reason)
    ids = sorted(set(record_ids))
    if not ids:
        raise InvalidInput("name the records to dispose of", code="missing_record_ids")
    if len(ids) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} records per batch", code="too_many_records")
    if caller.person_id is None:
        raise _refuse(
            v,
            caller,
            Action.DISPOSAL_PROPOSE,
            Denied("a disposal batch is proposed by a custodian (--by)", code="custodian_required"),
        )
    found = {r.id: r for r in db.scalars(select(Record).where(Record.id.in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise _refuse(
            v,
            caller,
            Action.DISPOSAL_PROPOSE,
            NotFound(f"no such record: {missing[0]}", code="record_not_found"),
            record=missing[0],
        )
    records = [found[i] for i in ids]
    clients = {r.client_id: r.client for r in records}
    for client in clients.values():
        authz.require(
            v,
            db,
            caller,
            Action.DISPOSAL_PROPOSE,
            Target(record_id=None, client_id=client.id, tier=client.tier),
            resource={"client": client.id},
            is_requester=False,
        )
    pending = _pending_ids(db)
    waiting = [i for i in ids if i in pending]
    if waiting:
        raise _refuse(
            v,
            caller,
            Action.DISPOSAL_PROPOSE,
            Conflict(
                f"record {waiting[0]} is already in a batch waiting for approval",
                code="record_in_batch",
            ),
            record=waiting[0],
        )
    found_ret = _check_disposable(v, db, caller, Action.DISPOSAL_PROPOSE, records)
    batch = DisposalBatch(
        status=BatchStatus.PROPOSED.value,
        reason=text,
        proposed_by_id=caller.person_id,
        needs_custodian=any(c.tier == "core" for c in clients.values()),
        note="",
    )
    db.add(batch)
    db.flush()
    for r in records:
        ret = found_ret[r.id]
        assert ret.due_on is not None
        db.add(DisposalItem(batch_id=batch.id, record_id=r.id, rule=ret.rule, due_on=ret.due_on))
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.DISPOSAL_PROPOSE,
        resource={"disposal_batch": batch.id},
        details={
            "records": len(records),
            "record_ids": ",".join(map(str, ids[:50])),
            "needs_custodian": batch.needs_custodian,
            "reason": text,
        },
    )
    return batch


def get(db: Session, batch_id: int) -> DisposalBatch:
    """A batch by id, or NotFound."""
    batch = db.get(DisposalBatch, batch_id)
    if batch is None:
        raise NotFound("no such disposal batch", code="batch_not_found")
    return batch


def _locked(db: Session, batch_id: int) -> DisposalBatch:
    batch = db.scalar(select(DisposalBatch).where(DisposalBatch.id == batch_id).with_for_update())
    if batch is None:
        raise NotFound("no such disposal batch", code="batch_not_found")
    db.refresh(batch)
    return batch


def _pending(v: Vault, caller: Caller, action: Action, batch: DisposalBatch) -> None:
    if batch.status != BatchStatus.PROPOSED.value:
        raise _refuse(
            v,
            caller,
            action,
            Conflict(f"this batch is already {batch.status}", code="batch_decided"),
            disposal_batch=batch.id,
        )


def items(db: Session, batch: DisposalBatch) -> list[tuple[DisposalItem, Record]]:
    """The batch's records, with the rule and date each was proposed under."""
    rows = db.execute(
        select(DisposalItem, Record)
        .join(Record, Record.id == DisposalItem.record_id)
        .where(DisposalItem.batch_id == batch.id)
        .order_by(Record.id)
    ).all()
    return [(i, r) for i, r in rows]


def _by_person(
    v: Vault, db: Session, caller: Caller, batch_id: int, action: Action, who: str
) -> tuple[DisposalBatch, dict[str, object]]:
    """The batch, locked, for a decision only a named person takes (never the operator)."""
    batch = _locked(db, batch_id)
    resource: dict[str, object] = {"disposal_batch": batch.id}
    if caller.person_id is None:
        code = "custodian_required" if action is Action.DISPOSAL_COUNTERSIGN else "admin_required"
        raise _refuse(v, caller, action, Denied(who, code=code), **resource)
    return batch, resource


def _admin_decision(
    v: Vault, db: Session, caller: Caller, batch_id: int, action: Action
) -> tuple[DisposalBatch, dict[str, object]]:
    """The batch, locked, once the policy lets this admin decide it (never their own)."""
    verb = (
        "approves a disposal batch" if action is Action.DISPOSAL_APPROVE else "turns a batch down"
    )
    batch, resource = _by_person(v, db, caller, batch_id, action, f"an admin {verb} (--by)")
    assert caller.person_id is not None
    authz.require(
        v,
        db,
        caller,
        action,
        resource=resource,
        is_proposer=batch.proposed_by_id == caller.person_id,
    )
    return batch, resource


def approve(v: Vault, db: Session, caller: Caller, batch_id: int, note: str = "") -> DisposalBatch:
    """An admin approves a batch they did not propose; carried out once complete."""
    batch, resource = _admin_decision(v, db, caller, batch_id, Action.DISPOSAL_APPROVE)
    assert caller.person_id is not None
    _pending(v, caller, Action.DISPOSAL_APPROVE, batch)
    if batch.admin_approved_by_id is not None:
        raise _refuse(
            v,
            caller,
            Action.DISPOSAL_APPROVE,
            Conflict("an admin already approved this batch", code="batch_approved"),
            **resource,
        )
    if batch.custodian_approved_by_id == caller.person_id:
        raise _refuse(
            v,
            caller,
            Action.DISPOSAL_APPROVE,
            Denied(
                "the countersigning custodian cannot also approve as the admin",
                code="same_person_approval",
            ),
            **resource,
        )
    batch.admin_approved_by_id = caller.person_id
    batch.note = (note or "").strip()[:500]
    auditing.record(
        v,
        db,
        caller,
        Action.DISPOSAL_APPROVE,
        resource=resource,
        details={"note": batch.note or None},
    )
    return _maybe_carry_out(v, db, caller, batch)


def countersign(
    v: Vault, db: Session, caller: Caller, batch_id: int, note: str = ""
) -> DisposalBatch:
    """A second custodian of the core tier (not the proposer) countersigns a core batch."""
    batch, resource = _by_person(
        v, db, caller, batch_id, Action.DISPOSAL_COUNTERSIGN, "a custodian countersigns (--by)"
    )
    assert caller.person_id is not None
    _pending(v, caller, Action.DISPOSAL_COUNTERSIGN, batch)
    if not batch.needs_custodian:
        raise _refuse(
            v,
            caller,
            Action.DISPOSAL_COUNTERSIGN,
            Conflict(
                "this batch holds no core records: no countersignature is needed",
                code="no_countersign_needed",
            ),
            **resource,
        )
    if batch.custodian_approved_by_id is not None:
        raise _refuse(
            v,
            caller,
            Action.DISPOSAL_COUNTERSIGN,
            Conflict("a custodian already countersigned this batch", code="batch_approved"),
            **resource,
        )
    core = {r.client_id: r.client for _, r in items(db, batch) if r.client.tier == "core"}
    for client in core.values():
        authz.require(
            v,
            db,
            caller,
            Action.DISPOSAL_COUNTERSIGN,
            Target(record_id=None, client_id=client.id, tier=client.tier),
            resource={**resource, "client": client.id},
            is_requester=batch.proposed_by_id == caller.person_id,
        )
    if batch.admin_approved_by_id == caller.person_id:
        raise _refuse(
            v,
            caller,
            Action.DISPOSAL_COUNTERSIGN,
            Denied("the approving admin cannot also countersign", code="same_person_approval"),
            **resource,
        )
    batch.custodian_approved_by_id = caller.person_id
    auditing.record(
        v,
        db,
        caller,
        Action.DISPOSAL_COUNTERSIGN,
        resource=resource,
        details={"note": (note or "").strip()[:500] or None},
    )
    return _maybe_carry_out(v, db, caller, batch)


def reject(v: Vault, db: Session, caller: Caller, batch_id: int, note: str) -> DisposalBatch:
    """An admin (not the proposer) turns a batch down; nothing is destroyed."""
    batch, resource = _admin_decision(v, db, caller, batch_id, Action.DISPOSAL_REJECT)
    assert caller.person_id is not None
    text = _reason(note, "missing_note")
    _pending(v, caller, Action.DISPOSAL_REJECT, batch)
    batch.status = BatchStatus.REJECTED.value
    batch.decided_at = utcnow()
    batch.note = text
    auditing.record(
        v, db, caller, Action.DISPOSAL_REJECT, resource=resource, details={"note": text}
    )
    return batch


def _maybe_carry_out(v: Vault, db: Session, caller: Caller, batch: DisposalBatch) -> DisposalBatch:
    if batch.admin_approved_by_id is None or (
        batch.needs_custodian and batch.custodian_approved_by_id is None
    ):
        db.flush()
        return batch
    return _carry_out(v, db, caller, batch)


def _email(db: Session, person_id: int | None) -> str | None:
    person = db.get(Person, person_id) if person_id is not None else None
    return person.email if person else None


def _carry_out(v: Vault, db: Session, caller: Caller, batch: DisposalBatch) -> DisposalBatch:
    """Crypto-shred every record of an approved batch; sign and store the certificate."""
    rows = items(db, batch)
    records = [r for _, r in rows]
    found = retention.retentions(v, db, records)
    for r in records:
        if found[r.id].state == retention.STATE_HELD:
            raise _refuse(
                v,
                caller,
                Action.DISPOSAL_CARRY_OUT,
                Conflict(
                    f"record {r.id} came under a legal hold: the batch is not carried out; "
                    "propose it again without it",
                    code="record_held",
                ),
                disposal_batch=batch.id,
                record=r.id,
            )
        if found[r.id].state == retention.STATE_DISPOSED:
            raise _refuse(
                v,
                caller,
                Action.DISPOSAL_CARRY_OUT,
                Conflict(f"record {r.id} was already disposed of", code="record_disposed"),
                disposal_batch=batch.id,
                record=r.id,
            )
    ids = [r.id for r in records]
    # The four-properties check of what is about to be destroyed, while it still can be
    # read (inside the choke point, as the vault: the approver need not be an admin).
    checker = Caller(
        person=None,
        subject="vault:disposal",
        ip=caller.ip,
        user_agent=caller.user_agent,
        request_id=caller.request_id,
    )
    check = checks.check_records(v, db, checker, ids, trigger="disposal")
    faults: dict[int, list[str]] = {}
    for f in check.findings:
        if f.record_id is not None:
            faults.setdefault(f.record_id, []).append(f.code)
    now = utcnow()
    # The key shares go first, before anything else of the act: the batch is approved,
    # and a failure after this point leaves the records unreadable, never readable.
    destroyed = v.shares.shred(ids, now.isoformat()) if v.shares is not None else 0
    blobs = list(db.scalars(select(Attachment.blob_key).where(Attachment.record_id.in_(ids))))
    for r in records:
        r.content_ct = b""
        r.wrapped_dek = b""
        r.disposed_at = now
        r.disposal_batch_id = batch.id
    batch.status = BatchStatus.DISPOSED.value
    batch.decided_at = now
    db.flush()
    signing = v.keys.verify_key()
    facts = certificates.Facts(
        batch_id=batch.id,
        carried_out_at=now,
        reason=batch.reason,
        proposed_by=_email(db, batch.proposed_by_id) or "",
        approved_by=_email(db, batch.admin_approved_by_id) or "",
        countersigned_by=_email(db, batch.custodian_approved_by_id),
        lines=[
            certificates.Line(r.file_number, r.title, i.rule, i.due_on, tuple(faults.get(r.id, ())))
            for i, r in rows
        ],
        key_fingerprint=certificates.fingerprint(signing),
        check_run=check.run.id,
        check_faults=check.run.failures,
    )
    signed = certificates.sign(v, facts)
    cert = DestructionCertificate(
        batch_id=batch.id,
        pdf=signed.pdf,
        sha256=signed.sha256,
        signature=signed.signature,
        key_fingerprint=signed.key_fingerprint,
        created_at=now,
    )
    db.add(cert)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        Action.DISPOSAL_CARRY_OUT,
        resource={"disposal_batch": batch.id, "certificate": cert.id},
        details={
            "records": len(ids),
            "record_ids": ",".join(map(str, ids[:50])),
            "shares_destroyed": destroyed,
            "attachments": len(blobs),
            "certificate_sha256": signed.sha256,
            "key_fingerprint": signed.key_fingerprint,
            "proposed_by": batch.proposed_by_id,
            "approved_by": batch.admin_approved_by_id,
            "countersigned_by": batch.custodian_approved_by_id,
            "check_run": check.run.id,
            "check_faults": check.run.failures,
            "records_with_faults": len(faults),
        },
    )

    def remove_blobs() -> None:
        for key in blobs:
            v.blobs.delete(key)

    after_commit(db, remove_blobs)
    return batch


def batches(
    v: Vault, db: Session, caller: Caller, *, status: str | None = None, limit: int = 100
) -> list[DisposalBatch]:
    """Batches, newest first (custodians, admins, auditors)."""
    authz.require(v, db, caller, Action.DISPOSAL_READ)
    stmt = select(DisposalBatch)
    if status is not None:
        stmt = stmt.where(DisposalBatch.status == status)
    return list(db.scalars(stmt.order_by(DisposalBatch.id.desc()).limit(limit)))


def read_batch(v: Vault, db: Session, caller: Caller, batch_id: int) -> DisposalBatch:
    """One batch (custodians, admins, auditors)."""
    authz.require(v, db, caller, Action.DISPOSAL_READ, resource={"disposal_batch": batch_id})
    return get(db, batch_id)


def certificate(v: Vault, db: Session, caller: Caller, batch_id: int) -> DestructionCertificate:
    """The signed destruction certificate of a carried-out batch."""
    authz.require(v, db, caller, Action.DISPOSAL_READ, resource={"disposal_batch": batch_id})
    cert = db.scalar(
        select(DestructionCertificate).where(DestructionCertificate.batch_id == batch_id)
    )
    if cert is None:
        raise NotFound(
            "this batch has no certificate (not carried out)", code="certificate_not_found"
        )
    return cert


def how_disposed(db: Session, record: Record) -> dict[str, object] | None:
    """For a disposed record's card: its batch, rule, proposer, approvers and date."""
    if record.disposed_at is None or record.disposal_batch_id is None:
        return None
    batch = db.get(DisposalBatch, record.disposal_batch_id)
    item = db.get(DisposalItem, (record.disposal_batch_id, record.id))
    if batch is None or item is None:
        return None
    return {
        "batch_id": batch.id,
        "rule": item.rule,
        "proposed_by": batch.proposed_by_id,
        "approved_by": batch.admin_approved_by_id,
        "countersigned_by": batch.custodian_approved_by_id,
        "disposed_at": record.disposed_at.isoformat(),
    }
