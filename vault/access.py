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
from typing import IO

from sqlalchemy.orm import Session

from audit import Event
from vault import auditing, authz
from vault.caller import Caller
from vault.crypto import (
    DataKey,
    DecryptionError,
    WrappedKey,
    decrypt_field,
    decrypt_stream,
    encrypt_stream,
)
from vault.crypto.contexts import attachment_aad, record_context
from vault.db import utcnow
from vault.errors import Denied, InvalidInput, NotFound, Unavailable
from vault.grants import live as live_
from vault.models import Attachment, Grant, Person, Record
from vault.oversight import alerts
from vault.oversight import quota as quota_
from vault.policy import Action, Target
from vault.policy.actions import GRANT_ACTIONS
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
    v: Vault,
    db: Session,
    caller: Caller,
    action: Action,
    record_id: int,
    purpose: str,
    resource: dict[str, object],
    details: dict[str, str | int | bool | None] | None = None,
) -> tuple[Record, Event]:
    """Load, decide and audit; returns only when allowed (the event is in the transaction).

    The person's row is locked first, so the export quota counts one request of theirs
    at a time, across processes.
    """
    person = caller.person
    if person is not None:
        quota_.lock_person(db, person.id)
    record = db.get(Record, record_id)
    if record is None:
        raise authz.refuse(
            NotFound("no such record", code="record_not_found"),
            v,
            caller,
            action,
            resource=resource,
            purpose=purpose,
        )
    resource["client"] = record.client_id
    facts = facts_for(v, db, caller, action, record)
    decision = v.policy.decide(
        caller.principal(date.today()),
        action,
        facts.target,
        purpose=purpose,
        quota_exceeded=facts.quota.exceeded if facts.quota else False,
        granted_actions=facts.granted_actions,
    )
    if not decision:
        refused = authz.refusal(
            v, caller, action, decision, resource=resource, purpose=purpose, details=details
        )

        def alert(session: Session) -> None:
            _after_denial(v, session, caller, decision.reason, facts, record)

        raise Denied(decision.message, code=decision.reason, keep=(refused, alert))
    grant_id = None
    if decision.reason == "grant" and facts.grants:
        grant_id = str(facts.grants[0].id)
    event = auditing.record(
        v,
        db,
        caller,
        action,
        decision=decision,
        resource=resource,
        purpose=purpose,
        grant_id=grant_id,
        details=details,
    )
    return record, event


@dataclass(frozen=True)
class Facts:
    """What the policy is told about one content decision, built in one place."""

    target: Target
    grants: list[Grant]
    granted_actions: frozenset[str]
    quota: quota_.Quota | None


def facts_for(v: Vault, db: Session, caller: Caller, action: Action, record: Record) -> Facts:
    """Grants covering the record and the quota state, for ``decide`` and ``explain``."""
    target = Target(record_id=record.id, client_id=record.client_id, tier=record.client.tier)
    person = caller.person
    if person is None:
        return Facts(target, [], frozenset(), None)
    live = live_.covering(db, person.id, record, utcnow())
    granted = frozenset(a for g in live for a in g.action_list if a in GRANT_ACTIONS)
    quota = quota_.check(v, db, person, record.id)
    return Facts(target, [g for g in live if _grant_allows(g, action)], granted, quota)


def _data_key(v: Vault, record: Record) -> DataKey:
    """Unwrap a record's data key; called only after the decision and its audit event.

    The unsealer is the one object that unwraps content keys, and this module the only
    one that is handed it (everyone else holds ``v.keys``, a wrap-only view).
    """
    unsealer = v._unsealer
    if unsealer is None:
        raise DecryptionError()
    return unsealer.unwrap(WrappedKey.from_bytes(record.wrapped_dek), record_context(record.id))


def seal_attachment(
    v: Vault, record: Record, attachment_id: int, stream: IO[bytes], out: IO[bytes]
) -> int:
    """Encrypt an attachment of ``record`` under the record's key (the depositor's act is
    decided and audited by the caller); returns the plaintext size."""
    return encrypt_stream(
        _data_key(v, record), stream, out, aad=attachment_aad(record.id, attachment_id)
    )


def _content(v: Vault, record: Record) -> bytes:
    """Decrypt a record's content (same precondition as :func:`_data_key`)."""
    return decrypt_field(
        _data_key(v, record),
        record.content_ct,
        record_id=str(record.id),
        field="content",
        version=record.content_version,
    )


def _grant_allows(grant: Grant, action: Action) -> bool:
    return any(GRANT_ACTIONS.get(a) == action for a in grant.action_list)


def _after_denial(
    v: Vault, db: Session, caller: Caller, reason: str, facts: Facts, record: Record
) -> None:
    """Denials that mean someone may be draining the archive raise an alert."""
    person = caller.person
    if person is None:
        return
    if reason == "export_quota_exceeded" and facts.quota is not None:
        quota_.trip(v, db, caller, person, facts.quota, record.id)
    elif reason in ("person_departing", "person_disabled"):
        alerts.raise_alert(
            v,
            db,
            caller,
            "departed_access" if reason == "person_disabled" else "departing_access",
            person,
            f"{person.email} (leaving {person.leaving_on}) tried to open record {record.id}",
            details={"record": str(record.id)},
        )


def consult(v: Vault, db: Session, caller: Caller, record_id: int, purpose: str | None) -> Content:
    """Consult (阅览) one record's content for a stated purpose."""
    text = _purpose(purpose)
    record, event = _decide(
        v, db, caller, Action.RECORD_CONSULT, record_id, text, {"record": record_id}
    )
    try:
        data = _content(v, record)
    except DecryptionError:
        raise _decryption_failed(v, caller, Action.RECORD_CONSULT, record_id, text) from None
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
        raise authz.refuse(
            NotFound("no such attachment", code="attachment_not_found"),
            v,
            caller,
            Action.RECORD_CONSULT,
            resource={"record": record_id, "attachment": attachment_id},
            purpose=text,
        )
    record, _ = _decide(
        v,
        db,
        caller,
        Action.RECORD_CONSULT,
        record_id,
        text,
        {"record": record_id, "attachment": attachment_id},
    )
    try:
        dek = _data_key(v, record)
    except DecryptionError:
        raise _decryption_failed(v, caller, Action.RECORD_CONSULT, record_id, text) from None
    blob = v.blobs.open(att.blob_key)

    def chunks() -> Iterator[bytes]:
        with blob:
            yield from decrypt_stream(dek, blob, aad=attachment_aad(record.id, att.id))

    return Stream(attachment=att, chunks=chunks())


def _decryption_failed(
    v: Vault, caller: Caller, action: Action, record_id: int, purpose: str
) -> Exception:
    """The error for content that does not decrypt; its event (outcome ``error``) is kept."""
    return authz.refuse(
        Unavailable("the record could not be decrypted", code="decryption_failed"),
        v,
        caller,
        action,
        resource={"record": record_id},
        purpose=purpose,
        outcome="error",
    )


@dataclass(frozen=True)
class Explanation:
    """A decision as ``policy explain`` shows it."""

    person: str
    action: str
    record_id: int | None
    allowed: bool
    reason: str
    message: str
    policy_ids: list[str]
    facts: dict[str, object]


def explain(
    v: Vault, db: Session, person: Person, action: Action, record_id: int | None
) -> Explanation:
    """The decision ``person`` would get for ``action`` on a record now, and why.

    Builds exactly the facts a real request would (grants, quota, tenure) and records
    nothing: explaining is not using.
    """
    who = Caller(person=person)
    if not action.on_record:
        decision = v.policy.decide(who.principal(date.today()), action)
        facts: dict[str, object] = dict(decision.facts)
    else:
        if record_id is None:
            raise InvalidInput("this action needs a record", code="missing_record_id")
        record = db.get(Record, record_id)
        if record is None:
            raise NotFound("no such record", code="record_not_found")
        f = facts_for(v, db, who, action, record)
        decision = v.policy.decide(
            who.principal(date.today()),
            action,
            f.target,
            purpose="(explain)",
            quota_exceeded=f.quota.exceeded if f.quota else False,
            granted_actions=f.granted_actions,
        )
        facts = {
            **decision.facts,
            "tier": record.client.tier,
            "granted_actions": sorted(f.granted_actions),
            "grant_ids": [g.id for g in f.grants],
            "quota_hour": f.quota.hour if f.quota else None,
            "quota_day": f.quota.day if f.quota else None,
        }
    principal = who.principal(date.today())
    facts.update(
        {
            "roles": sorted(principal.roles),
            "custodian_tiers": sorted(principal.custodian_tiers),
            "departing": principal.departing,
            "disabled": principal.disabled,
            "under_review": principal.under_review,
        }
    )
    return Explanation(
        person.email,
        action.value,
        record_id,
        decision.allowed,
        decision.reason,
        decision.message,
        list(decision.policy_ids),
        facts,
    )


@dataclass(frozen=True)
class Copy:
    """A watermarked copy (复制) of one record, made for one caller and audited."""

    record: Record
    data: bytes
    media_type: str
    copy_id: str
    event_id: str
    grant_id: str | None


def copy(v: Vault, db: Session, caller: Caller, record_id: int, purpose: str | None) -> Copy:
    """Make a traceable copy: decide and audit (the copy id goes in the event), then
    decrypt and watermark with the caller, the event's time and the copy id."""
    from vault.custody import watermarks

    text = _purpose(purpose)
    meta = db.get(Record, record_id)
    if meta is not None and not watermarks.supports(meta.content_type):
        raise InvalidInput(
            "this record's format cannot be watermarked, so it is not copied",
            code="copy_format_unsupported",
        )
    copy_id = watermarks.new_copy_id()
    kind = watermarks.media_type(meta.content_type) if meta is not None else ""
    record, event = _decide(
        v,
        db,
        caller,
        Action.RECORD_COPY,
        record_id,
        text,
        {"record": record_id},
        details={"copy_id": copy_id, "format": kind},
    )
    assert caller.person is not None  # the operator holds no right to copy
    try:
        data = _content(v, record)
    except DecryptionError:
        raise _decryption_failed(v, caller, Action.RECORD_COPY, record_id, text) from None
    mark = watermarks.Mark(copy_id=copy_id, who=caller.person.email, when=event.time)
    try:
        stamped = watermarks.stamp(data, record.content_type, mark)
    except InvalidInput as exc:
        # The content is not the format its card claims: no copy leaves, the attempt is logged.
        raise authz.refuse(
            exc,
            v,
            caller,
            Action.RECORD_COPY,
            resource={"record": record_id},
            purpose=text,
            outcome="error",
        ) from None
    return Copy(
        record=record,
        data=stamped,
        media_type=kind,
        copy_id=copy_id,
        event_id=event.id,
        grant_id=event.grant_id,
    )


def lend(
    v: Vault,
    db: Session,
    caller: Caller,
    record_id: int,
    borrower: Person,
    purpose: str | None,
    details: dict[str, str | int | bool | None],
) -> tuple[Record, Event, Event]:
    """Decide a check-out (外借) of one of a record's items; the caller files the loan and commits.

    Two decisions, both audited in this transaction: the acting custodian's right to
    lend (``item:checkout``), then the borrower's right to take the content away
    (``item:borrow``: a live grant naming ``lend``, or custody of the tier; every
    hard line applies to them, and the borrowing counts toward their export quota).
    """
    text = _purpose(purpose)
    record, lent = _decide(
        v,
        db,
        caller,
        Action.ITEM_CHECKOUT,
        record_id,
        text,
        {"record": record_id, "person": borrower.id},
        details=details,
    )
    on_behalf = Caller(
        person=borrower, ip=caller.ip, user_agent=caller.user_agent, request_id=caller.request_id
    )
    _, borrowed = _decide(
        v,
        db,
        on_behalf,
        Action.ITEM_BORROW,
        record_id,
        text,
        {"record": record_id},
        details={**details, "lent_by": caller.person_id},
    )
    return record, lent, borrowed
