"""THE choke point: every use of content decides, audits, then decrypts, in one transaction.

No other module unwraps a record's data key. The order is fixed:

1. load the record's catalogue entry (404 if absent, audited as denied);
2. decide with the policy engine;
3. append the audit event in the same transaction (a denial is committed, then raised);
4. unwrap the data key and decrypt;
5. commit; only then does content leave. If the audit append or the commit fails,
   no content is returned (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from audit import Event
from vault import auditing
from vault.caller import Caller
from vault.crypto import DecryptionError, WrappedKey, decrypt_field, decrypt_stream
from vault.errors import Denied, InvalidInput, NotFound, Unavailable
from vault.models import Attachment, Record
from vault.policy import Action, Target
from vault.records import attachment_aad, record_context
from vault.runtime import Vault

PURPOSE_MIN, PURPOSE_MAX = 3, 500


@dataclass(frozen=True)
class Content:
    """Decrypted content released to one caller for one audited use."""

    record: Record
    data: bytes
    event_id: str


def _purpose(purpose: str | None) -> str:
    text = (purpose or "").strip()
    if not PURPOSE_MIN <= len(text) <= PURPOSE_MAX:
        raise InvalidInput(
            f"a purpose of {PURPOSE_MIN} to {PURPOSE_MAX} characters is required",
            code="purpose_required",
        )
    return text


def _decide(
    v: Vault, db: Session, caller: Caller, action: Action, record_id: int, purpose: str,
    resource: dict[str, object],
) -> tuple[Record, Event]:
    """Load, decide and audit; returns only when allowed (the event is in the transaction)."""
    record = db.get(Record, record_id)
    if record is None:
        auditing.record(
            v, db, caller, action, outcome="denied", resource=resource,
            purpose=purpose, reason="record_not_found",
        )
        db.commit()
        raise NotFound("no such record", code="record_not_found")
    resource["client"] = record.client_id
    target = Target(record_id=record.id, client_id=record.client_id, tier=record.client.tier)
    decision = v.policy.decide(caller.principal(date.today()), action, target, purpose=purpose)
    event = auditing.record(
        v, db, caller, action, decision=decision, resource=resource, purpose=purpose,
    )
    if not decision:
        db.commit()
        raise Denied(decision.message, code=decision.reason)
    return record, event


def consult(v: Vault, db: Session, caller: Caller, record_id: int, purpose: str | None) -> Content:
    """Consult (阅览) one record's content for a stated purpose."""
    text = _purpose(purpose)
    try:
        record, event = _decide(
            v, db, caller, Action.RECORD_CONSULT, record_id, text, {"record": record_id}
        )
        dek = v.keys.unwrap(WrappedKey.from_bytes(record.wrapped_dek), record_context(record.id))
        data = decrypt_field(
            dek, record.content_ct, record_id=str(record.id), field="content",
            version=record.content_version,
        )
        db.commit()
    except DecryptionError:
        db.rollback()
        _record_failure(v, db, caller, Action.RECORD_CONSULT, record_id, text)
        raise Unavailable("the record could not be decrypted", code="decryption_failed") from None
    except (Denied, NotFound):
        raise
    except Exception:
        db.rollback()
        raise
    return Content(record=record, data=data, event_id=event.id)


@dataclass(frozen=True)
class Stream:
    """An attachment released for one audited use, decrypted segment by segment."""

    attachment: Attachment
    chunks: Iterator[bytes]


def consult_attachment(
    v: Vault, db: Session, caller: Caller, record_id: int, attachment_id: int, purpose: str | None
) -> Stream:
    """Consult one attachment; the same decision and audit as the record's content."""
    text = _purpose(purpose)
    att = db.get(Attachment, attachment_id)
    if att is None or att.record_id != record_id:
        raise NotFound("no such attachment", code="attachment_not_found")
    record, _ = _decide(
        v, db, caller, Action.RECORD_CONSULT, record_id, text,
        {"record": record_id, "attachment": attachment_id},
    )
    try:
        dek = v.keys.unwrap(WrappedKey.from_bytes(record.wrapped_dek), record_context(record.id))
        blob = v.blobs.open(att.blob_key)
        db.commit()
    except Exception:
        db.rollback()
        raise

    def chunks() -> Iterator[bytes]:
        with blob:
            yield from decrypt_stream(dek, blob, aad=attachment_aad(record.id, att.id))

    return Stream(attachment=att, chunks=chunks())


def _record_failure(
    v: Vault, db: Session, caller: Caller, action: Action, record_id: int, purpose: str
) -> None:
    auditing.record(
        v, db, caller, action, outcome="error", resource={"record": record_id},
        purpose=purpose, reason="decryption_failed",
    )
    db.commit()
