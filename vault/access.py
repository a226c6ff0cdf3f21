"""THE choke point: every use of content decides, audits, then decrypts, in one transaction.

No other module unwraps a record's data key: this module alone is handed the unsealer
(``vault.crypto.capability``). The order is fixed:

1. lock the person (the token lookup of a content route already did), then load the
   record's card with the caller's covering grants and export-quota windows in one
   statement (404 if absent, the refusal audited);
2. decide with the policy engine;
3. record the audit event in the act's transaction (held back and sent with the COMMIT);
   a denial raises with its event, which the boundary writes after rolling back;
4. unwrap the data key and decrypt;
5. the boundary commits; only then does content leave. If the audit insert or the commit
   fails, no content is returned (fail closed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any

from sqlalchemy import (
    String,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from audit import Event
from vault import auditing, authz
from vault.caller import Caller
from vault.crypto import (
    CryptoError,
    DataKey,
    DecryptionError,
    WrappedKey,
    decrypt_field,
    decrypt_stream,
    encrypt_stream,
)
from vault.crypto.contexts import attachment_aad, record_context
from vault.crypto.shares import combine
from vault.db import utcnow
from vault.errors import Conflict, Denied, InvalidInput, NotFound, Unavailable
from vault.models import Attachment, Client, Grant, GrantedAction, Person, QuotaOpening, Record
from vault.oversight import alerts
from vault.policy import Action, Target
from vault.policy.actions import CONTENT_ACTIONS, GRANT_ACTIONS, LOOKUP_ACTIONS
from vault.runtime import Vault

PURPOSE_MIN, PURPOSE_MAX = 3, 500


@dataclass(frozen=True, slots=True)
class ClientCard:
    """The client of a record as a content decision read it."""

    id: int
    code: str
    tier: str


@dataclass(frozen=True, slots=True)
class Card:
    """A record's row as a content decision read it, with its client: a plain value, not
    an ORM object (nothing is tracked or written back). Its fields are ``records``'
    columns; a test holds the two together."""

    id: int
    client_id: int
    section: int
    year: int
    seq: int
    file_number: str
    title: str
    doc_type: str
    doc_date: date | None
    valid_until: date | None
    content_type: str
    content_size: int
    content_version: int
    content_ct: bytes
    wrapped_dek: bytes
    content_digest: str | None
    deposited_by_id: int | None
    created_at: datetime
    disposed_at: datetime | None
    disposal_batch_id: int | None
    client: ClientCard


@dataclass(frozen=True)
class Content:
    """Decrypted content released to one caller for one audited use."""

    record: Card
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


# The content decision's one statement: the record's card, its client's code and tier,
# the caller's live grants that cover it (with their actions), and the export-quota
# windows. Built once: SQLAlchemy reuses its compiled form on every request.
_r, _c = Record.__table__.c, Client.__table__.c
_g, _ga = Grant.__table__.c, GrantedAction.__table__.c
_o = QuotaOpening.__table__.c
# What counts against the quota (the trigger that keeps ``quota_openings`` counts these;
# a test holds the two together): a distinct record opened, or one sensitive lookup.
COUNTED = sorted(a.value for a in CONTENT_ACTIONS | LOOKUP_ACTIONS)
# The windows: the person's quota units last used in the day and in the hour, and when
# this record was last opened. One row per unit (kept from the audit log by the
# database), so the count is of at most the day's limit of rows, however often each
# record was opened.
_WINDOW = (
    select(
        func.count().label("opened_day"),
        func.count(case((_o.last_at >= bindparam("hour_ago"), _o.unit))).label("opened_hour"),
        func.max(case((_o.unit == bindparam("record_key"), _o.last_at))).label("last_opened"),
    )
    .where(_o.person_id == bindparam("person_id"), _o.last_at >= bindparam("day_ago"))
    .subquery("opened")
)
_LIVE_GRANTS = (
    select(
        func.aggregate_strings(
            cast(_g.id, String) + literal_column("':'", String) + _ga.action,
            ",",  # rendered into the statement by SQLAlchemy (literal_execute)
        )
    )
    .select_from(Grant.__table__.join(GrantedAction.__table__, _ga.grant_id == _g.id))
    .where(
        _g.person_id == bindparam("person_id"),
        _g.client_id == _r.client_id,
        or_(_g.record_id.is_(None), _g.record_id == _r.id),
        _g.revoked_at.is_(None),
        _g.starts_at <= bindparam("now"),
        _g.expires_at > bindparam("now"),
    )
    .scalar_subquery()
)
_FACTS = (
    select(
        *Record.__table__.c,
        _c.code.label("client_code"),
        _c.tier.label("client_tier"),
        _LIVE_GRANTS.label("grants"),
        _WINDOW.c.opened_day,
        _WINDOW.c.opened_hour,
        _WINDOW.c.last_opened,
    )
    .select_from(
        Record.__table__.join(Client.__table__, _c.id == _r.client_id).join(_WINDOW, true())
    )
    .where(_r.id == bindparam("record_id"))
)
_WINDOWS = select(_WINDOW.c.opened_day, _WINDOW.c.opened_hour, _WINDOW.c.last_opened)
_RECORD_COLUMNS = tuple(c.name for c in Record.__table__.c)
_FACTS_COLUMNS = tuple(c.key for c in _FACTS.selected_columns)
_LOCK = select(Person.id).where(Person.id == bindparam("person_id")).with_for_update()


@dataclass(frozen=True)
class Quota:
    """One person's window counts, and whether opening a record would cross a limit."""

    hour: int
    day: int
    hour_limit: int
    day_limit: int
    exceeded: bool


@dataclass(frozen=True)
class Facts:
    """What the policy is told about one content decision, built in one place."""

    target: Target
    grants: tuple[tuple[int, frozenset[str]], ...]  # live covering grants and their actions
    granted_actions: frozenset[str]
    quota: Quota | None

    def grant_for(self, action: Action) -> int | None:
        """The first live grant whose actions include ``action``."""
        for grant_id, actions in self.grants:
            if any(GRANT_ACTIONS.get(a) == action for a in actions):
                return grant_id
        return None


def lock_person(db: Session, person_id: int) -> None:
    """Serialize one person's content decisions (PostgreSQL row lock; SQLite is serial)."""
    db.execute(_LOCK, {"person_id": person_id})


def _lock_in_order(db: Session, caller: Caller, other: Person) -> tuple[Caller, bool]:
    """Lock the caller's and ``other``'s rows, lowest id first; the caller, marked locked.

    Returns whether ``other`` is locked too. A caller whose row is already locked (by a
    content route's token lookup) cannot be reordered: only ``other`` is left to lock.
    """
    me = caller.person_id
    if me is None or caller.locked:
        return caller, False
    for person_id in sorted({me, other.id}):
        lock_person(db, person_id)
    return caller.with_lock(), True


def _load(
    v: Vault, db: Session, caller: Caller, record_id: int, now: datetime
) -> tuple[Card, Facts] | None:
    """The record and the facts of a decision on it, in one statement (None: no record)."""
    person_id = caller.person_id
    params = {"record_id": record_id, **_windows(person_id or 0, record_id, now)}
    rows = v.direct.rows_in(db, _FACTS, params)
    if not rows:
        return None
    m = dict(zip(_FACTS_COLUMNS, rows[0], strict=True))
    client = ClientCard(id=m["client_id"], code=m["client_code"], tier=m["client_tier"])
    record = Card(**{name: m[name] for name in _RECORD_COLUMNS}, client=client)
    target = Target(record_id=record.id, client_id=record.client_id, tier=m["client_tier"])
    if person_id is None:
        return record, Facts(target, (), frozenset(), None)
    grants: dict[int, set[str]] = {}
    for pair in (m["grants"] or "").split(","):
        if pair:
            gid, _, act = pair.partition(":")
            grants.setdefault(int(gid), set()).add(act)
    live = tuple((gid, frozenset(acts)) for gid, acts in sorted(grants.items()))
    granted = frozenset(a for _, acts in live for a in acts if a in GRANT_ACTIONS)
    quota = _quota(v, caller, m, now, tier=m["client_tier"])
    return record, Facts(target, live, granted, quota)


def effective_custodian(v: Vault, caller: Caller, tier: str | None, today: date) -> bool:
    """Whether the caller holds custody of ``tier`` (any tier if ``None``) in effect today:
    designated for it, tenure at least the tier's minimum, not departing (DESIGN §1, §3.7).

    Tenure comes from the caller's principal, the one place it is computed."""
    principal = caller.principal(today)
    if principal.departing or principal.disabled:
        return False
    tenure = principal.tenure_days(today)
    tiers = principal.custodian_tiers if tier is None else principal.custodian_tiers & {tier}
    return any(tenure >= v.policy.minimum_days(t) for t in tiers)


def _quota(v: Vault, caller: Caller, m: Any, now: datetime, *, tier: str | None) -> Quota:
    """The export quota's state from the counted windows (DESIGN §3.6).

    The custodian's larger quota follows effective custody of the record's tier, never a
    designation alone: a custodian whose tenure is too short for the tier, or who is
    leaving, opens records through a grant within the grant holder's quota.
    """
    cfg = v.config
    custodian = effective_custodian(v, caller, tier, date.today())
    hour_limit = cfg.custodian_quota_hour if custodian else cfg.quota_hour
    day_limit = cfg.custodian_quota_day if custodian else cfg.quota_day
    hour, day, last = int(m["opened_hour"] or 0), int(m["opened_day"] or 0), m["last_opened"]
    # Opening a record already opened in a window does not count against that window.
    in_day = last is not None
    in_hour = in_day and _aware(last) >= now - timedelta(hours=1)
    exceeded = (not in_hour and hour >= hour_limit) or (not in_day and day >= day_limit)
    return Quota(hour, day, hour_limit, day_limit, exceeded)


def _windows(person_id: int, record_id: int, now: datetime) -> dict[str, object]:
    return {
        "person_id": person_id,
        "now": now,
        "day_ago": now - timedelta(days=1),
        "hour_ago": now - timedelta(hours=1),
        "record_key": str(record_id),
    }


def quota_of(
    v: Vault, db: Session, person: Person, record_id: int, tier: str | None = None
) -> Quota:
    """Where ``person`` stands against the export quota, were they to open ``record_id``
    (of a client of ``tier``; ``None``: the custodian's limits if in effect in any tier)."""
    now = utcnow()
    row = db.connection().execute(_WINDOWS, _windows(person.id, record_id, now)).one()
    return _quota(v, Caller(person=person), row._mapping, now, tier=tier)


def lookup_quota(v: Vault, db: Session, caller: Caller) -> Quota | None:
    """The export quota's state for one sensitive lookup (a new unit every time); the
    person is locked first, so their lookups and openings are counted one at a time."""
    person_id = caller.person_id
    if person_id is None:
        return None
    if not caller.locked:
        lock_person(db, person_id)
    now = utcnow()
    row = db.connection().execute(_WINDOWS, _windows(person_id, 0, now)).one()
    return _quota(v, caller, row._mapping, now, tier=None)


def quota_crossed(
    v: Vault, db: Session, caller: Caller, quota: Quota, what: str, lookup: str | None = None
) -> None:
    """A refusal for the export quota: under review and an alert (in the refusal's keep);
    ``lookup`` is what a client was looked up by (``tax_id``), for the alert's words."""
    person = caller.person
    if person is not None:
        _trip(v, db, caller, person, quota, what, lookup=lookup)


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def facts_for(v: Vault, db: Session, caller: Caller, action: Action, record_id: int) -> Facts:
    """Grants covering the record and the quota state, as a decision would see them."""
    loaded = _load(v, db, caller, record_id, utcnow())
    if loaded is None:
        raise NotFound("no such record", code="record_not_found")
    return loaded[1]


def _decide(
    v: Vault,
    db: Session,
    caller: Caller,
    action: Action,
    record_id: int,
    purpose: str,
    resource: dict[str, object],
    details: dict[str, str | int | bool | None] | None = None,
) -> tuple[Card, Event]:
    """Load, decide and audit; returns only when allowed (the event is in the transaction).

    The person's row is locked first (unless signing in already locked it), so the
    export quota counts one request of theirs at a time, across processes.
    """
    person_id = caller.person_id
    if person_id is not None and not caller.locked:
        lock_person(db, person_id)
    loaded = _load(v, db, caller, record_id, utcnow())
    if loaded is None:
        raise authz.refuse(
            NotFound("no such record", code="record_not_found"),
            v,
            caller,
            action,
            resource=resource,
            purpose=purpose,
        )
    record, facts = loaded
    resource["client"] = record.client_id
    if record.disposed_at is not None or _shredded(v, record.id):
        # Disposed of (DESIGN §2.3): nothing of its content exists any more. The key
        # share's tombstone says so even to a database restored from an older backup.
        raise authz.refuse(
            Conflict(
                "this record was disposed of under the retention schedule; "
                "only its catalogue entry remains",
                code="record_disposed",
            ),
            v,
            caller,
            action,
            resource=resource,
            purpose=purpose,
            details=details,
        )
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
    grant_id = facts.grant_for(action) if decision.reason == "grant" else None
    event = auditing.record(
        v,
        db,
        caller,
        action,
        decision=decision,
        resource=resource,
        purpose=purpose,
        grant_id=str(grant_id) if grant_id is not None else None,
        details=details,
        deferred=True,
    )
    return record, event


def _shredded(v: Vault, record_id: int) -> bool:
    """Whether the record's key share was destroyed (a tombstone in the share file)."""
    return v.shares is not None and bool(v.shares.shredded((record_id,)))


def _data_key(v: Vault, record: Record | Card) -> DataKey:
    """Unwrap a record's data key; called only after the decision and its audit event.

    The unsealer is the one object that unwraps content keys, and this module the only
    one that is handed it (everyone else holds ``v.keys``, a wrap-only view). The key is
    the provider's half joined with the record's share (``vault.crypto.shares``); a
    record without a share is refused unless it was filed before shares existed.
    """
    unsealer = v._unsealer
    if unsealer is None or v.shares is None or not record.wrapped_dek:
        raise DecryptionError()
    share = v.shares.share(record.id)  # Shredded (a DecryptionError) once disposed of
    part = unsealer.unwrap(WrappedKey.from_bytes(record.wrapped_dek), record_context(record.id))
    return combine(part, share)


def seal_attachment(
    v: Vault, record: Record | Card, attachment_id: int, stream: IO[bytes], out: IO[bytes]
) -> int:
    """Encrypt an attachment of ``record`` under the record's key (the depositor's act is
    decided and audited by the caller); returns the plaintext size."""
    return encrypt_stream(
        _data_key(v, record),
        stream,
        out,
        aad=attachment_aad(record.id, attachment_id),
        cipher=v.suite.cipher,
    )


def _content(v: Vault, record: Record | Card) -> bytes:
    """Decrypt a record's content (same precondition as :func:`_data_key`)."""
    return decrypt_field(
        _data_key(v, record),
        record.content_ct,
        record_id=str(record.id),
        field="content",
        version=record.content_version,
    )


def _after_denial(
    v: Vault, db: Session, caller: Caller, reason: str, facts: Facts, record: Card
) -> None:
    """Denials that mean someone may be draining the archive raise an alert."""
    person = caller.person
    if person is None:
        return
    if reason == "export_quota_exceeded" and facts.quota is not None:
        _trip(v, db, caller, person, facts.quota, f"opening record {record.id}", record.id)
    elif reason in ("person_departing", "person_disabled"):
        alerts.raise_alert(
            v,
            db,
            caller,
            "departed_access" if reason == "person_disabled" else "departing_access",
            person,
            f"{person.email} (leaving {person.leaving_on}) tried to open record {record.id}",
            details={"record": str(record.id)},
            params={
                "email": person.email,
                "leaving_on": str(person.leaving_on),
                "record": record.id,
            },
        )


def _trip(
    v: Vault,
    db: Session,
    caller: Caller,
    person: Person,
    quota: Quota,
    what: str,
    record_id: int | None = None,
    lookup: str | None = None,
) -> None:
    """Put ``person`` under review and alert the auditors (the refusal's own transaction);
    ``what`` says what they tried ("opening record 12", "looking up a client by tax_id")."""
    person = db.get(Person, person.id) or person
    first = not person.under_review
    person.under_review = True
    summary = (
        f"{person.email} crossed the export quota ({quota.hour}/{quota.hour_limit} "
        f"per hour, {quota.day}/{quota.day_limit} per day) {what}"
    )
    alerts.raise_alert(
        v,
        db,
        caller,
        "quota_exceeded",
        person,
        summary,
        details={
            "hour": quota.hour,
            "day": quota.day,
            "record": str(record_id) if record_id is not None else None,
            "first": first,
        },
        params={
            "email": person.email,
            "hour": quota.hour,
            "hour_limit": quota.hour_limit,
            "day": quota.day,
            "day_limit": quota.day_limit,
            "record": record_id,
            "lookup": lookup,
        },
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
    record: Card | None = None
    event_id: str = ""


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
    record, event = _decide(
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
    failed = _decryption_failed(v, caller, Action.RECORD_CONSULT, record_id, text)

    def chunks() -> Iterator[bytes]:
        with blob:
            try:
                yield from decrypt_stream(dek, blob, aad=attachment_aad(record.id, att.id))
            except DecryptionError:
                # A tampered segment, found after the response has started: its event is
                # written in a transaction of its own (the request's has committed), then
                # the stream breaks off, so the client cannot take it for the whole file.
                _keep_now(v, failed)
                raise

    return Stream(attachment=att, chunks=chunks(), record=record, event_id=event.id)


@dataclass(frozen=True)
class AttachmentContent:
    """An attachment consulted whole, for a page that shows it (the reading room)."""

    attachment: Attachment
    record: Card
    data: bytes | None  # None: larger than the page shows (decided and audited all the same)
    event_id: str


def read_attachment(
    v: Vault,
    db: Session,
    caller: Caller,
    record_id: int,
    attachment_id: int,
    purpose: str | None,
    *,
    limit: int,
) -> AttachmentContent:
    """Consult one attachment and read it whole: :func:`consult_attachment`'s decision,
    audit event and decryption (the one path), for the reading room's page. An
    attachment larger than ``limit`` bytes is decided and audited but not decrypted."""
    got = consult_attachment(v, db, caller, record_id, attachment_id, purpose)
    assert got.record is not None
    if got.attachment.size > limit:
        return AttachmentContent(got.attachment, got.record, None, got.event_id)
    try:
        data = b"".join(got.chunks)
    except DecryptionError:
        # The stream has kept its failure's event already (outcome ``error``); the
        # consultation's own event rolls back with the request: no content left.
        raise Unavailable(
            "the attachment could not be decrypted", code="decryption_failed"
        ) from None
    return AttachmentContent(got.attachment, got.record, data, got.event_id)


def _keep_now(v: Vault, error: Exception) -> None:
    """Write what ``error`` keeps (its audit event) in a short transaction of its own."""
    session = v.sessions()
    try:
        for step in getattr(error, "keep", ()):
            step(session)
        session.commit()
    finally:
        session.close()


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
        f = facts_for(v, db, who, action, record_id)
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
            "tier": f.target.tier,
            "granted_actions": sorted(f.granted_actions),
            "grant_ids": [
                gid for gid, acts in f.grants if any(GRANT_ACTIONS.get(a) == action for a in acts)
            ],
            "quota_hour": f.quota.hour if f.quota else None,
            "quota_day": f.quota.day if f.quota else None,
            "quota_hour_limit": f.quota.hour_limit if f.quota else None,
            "quota_day_limit": f.quota.day_limit if f.quota else None,
            "quota_exceeded": f.quota.exceeded if f.quota else False,
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

    record: Card
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
    assert caller.who is not None  # the operator holds no right to copy
    if not watermarks.supports(record.content_type):
        # Decided first (so a stranger learns nothing of the format), then refused and
        # audited as a denied copy: no unmarked copy leaves.
        raise authz.refuse(
            InvalidInput(
                "this record's format cannot be watermarked, so it is not copied",
                code="copy_format_unsupported",
            ),
            v,
            caller,
            Action.RECORD_COPY,
            resource={"record": record_id, "client": record.client_id},
            purpose=text,
            details={"format": kind},
        )
    try:
        data = _content(v, record)
    except DecryptionError:
        raise _decryption_failed(v, caller, Action.RECORD_COPY, record_id, text) from None
    mark = watermarks.Mark(copy_id=copy_id, who=caller.who.email, when=event.time)
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
) -> tuple[Card, Event, Event]:
    """Decide a check-out (外借) of one of a record's items; the caller files the loan.

    Two decisions, both audited in this transaction: the acting custodian's right to
    lend (``item:checkout``), then the borrower's right to take the content away
    (``item:borrow``: a live grant naming ``lend``, or custody of the tier; every
    hard line applies to them, and the borrowing counts toward their export quota).
    """
    text = _purpose(purpose)
    # Two people's rows are locked here: always in one order (by id), never caller first.
    # Two custodians lending an item to each other at once would otherwise each hold
    # their own row and wait for the other's (a deadlock on PostgreSQL); in one order,
    # the second waits, then finds the item out on loan (409 item_on_loan, audited).
    caller, borrower_locked = _lock_in_order(db, caller, borrower)
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
        person=borrower,
        ip=caller.ip,
        user_agent=caller.user_agent,
        request_id=caller.request_id,
        locked=borrower_locked,
        client_request_id=caller.client_request_id,
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


# ---- The system check (四性检测) --------------------------------------------------------
#
# The four-properties check needs to know whether each record still decrypts, still has
# the content it was filed with, and still opens in its declared format. Those are facts
# about content, so they are found here, inside the choke point, after a decision and an
# audit event of their own (``record:check``); what leaves is booleans, codes and keyed
# digests, never a byte of content.

_DIGEST_LABEL = b"archive-vault content digest v1"
_PROBE_LABEL = b"archive-vault plaintext probe v1"
# Distinctive words of a record's text, looked for in the vault's folders (as keyed hashes).
_PUNCT = re.compile(r"[\"'{}\[\](),;:=<>|\\]+")
PROBE_MIN_CHARS = 12
PROBES_PER_RECORD = 8


def _derived(v: Vault, label: bytes) -> bytes:
    return hmac.new(v.keys.secret("blind-index"), label, hashlib.sha256).digest()


def digest(v: Vault, data: bytes) -> str:
    """The keyed digest of a record's content (HMAC-SHA256 under a key derived from the
    vault's index secret): recorded at intake and bound into the intake event. Keyed, so
    the catalogue does not let anyone confirm a guess of the content."""
    return hmac.new(_derived(v, _DIGEST_LABEL), data, hashlib.sha256).hexdigest()


def probe_key(v: Vault) -> bytes:
    """The key of the plaintext scan's probes (see :func:`probes`)."""
    return _derived(v, _PROBE_LABEL)


def probe_hash(key: bytes, token: str) -> bytes:
    """A probe: the keyed hash of one word, so the scan never holds the word itself."""
    return hashlib.blake2b(token.encode("utf-8"), key=key, digest_size=16).digest()


PROBE_PLAIN_CHARS = 16


def _distinctive(word: str) -> bool:
    # An ordinary long English word ("relationship") is in any log; one with a digit or a
    # non-ASCII letter, or of 16 letters and more, names its record.
    return len(word) >= PROBE_PLAIN_CHARS or not word.isascii() or any(c.isdigit() for c in word)


def tokens(text: str) -> Iterator[str]:
    """The words of ``text`` distinctive enough to name a record (the scan's unit): 12
    characters or more with a digit or a non-ASCII letter, or 16 or more."""
    for word in text.split():
        if len(word) < PROBE_MIN_CHARS:
            continue
        for part in _PUNCT.split(word):
            if len(part) >= PROBE_MIN_CHARS and _distinctive(part):
                yield part


def opens_as(data: bytes, content_type: str) -> str | None:
    """Whether ``data`` opens as its declared format: None if it does, else a code
    (``pdf_unreadable``, ``image_unreadable``, ``text_not_utf8``); ``format_unchecked``
    for a format the vault cannot open (counted, not a fault)."""
    import io

    from PIL import Image
    from pypdf import PdfReader

    from vault.custody.watermarks import media_type

    kind = media_type(content_type)
    if kind == "application/pdf":
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if len(reader.pages) == 0:
                return "pdf_unreadable"
            _ = reader.pages[0].mediabox
        except Exception:  # noqa: BLE001 - any parser failure means "does not open"
            return "pdf_unreadable"
        return None
    if kind.startswith("image/"):
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
        except Exception:  # noqa: BLE001 - any decoder failure means "does not open"
            return "image_unreadable"
        return None
    if kind.startswith("text/") or kind in ("application/json", "application/xml"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return "text_not_utf8"
        return None
    return "format_unchecked"


@dataclass(frozen=True)
class AttachmentHealth:
    """What the system check found of one attachment (no content)."""

    attachment_id: int
    present: bool
    blob_sha256: str | None  # of the stored ciphertext, as read now
    decrypts: bool
    opens: str | None  # as :func:`opens_as`
    probes: frozenset[bytes] = frozenset()


@dataclass(frozen=True)
class Health:
    """What the system check found of one record (no content: flags, codes, keyed hashes)."""

    record_id: int
    key_id: str
    key_live: bool
    decrypts: bool
    digest: str | None  # keyed digest of the content as it decrypts now
    opens: str | None
    probes: frozenset[bytes]
    attachments: tuple[AttachmentHealth, ...]


def system_check(
    v: Vault,
    db: Session,
    caller: Caller,
    record_ids: list[int],
    *,
    run_id: int | None = None,
    with_attachments: bool = True,
) -> list[Health]:
    """The four-properties check's look at content, for a batch of records.

    Decided (``record:check``: the operator, the worker, an admin) and audited (one event
    per batch, with its figures) before any key is unwrapped; nothing of the content is
    returned. A record that is not there is simply absent from the answer.
    """
    authz.require(v, db, caller, Action.RECORD_CHECK)
    rows = list(db.scalars(select(Record).where(Record.id.in_(record_ids)).order_by(Record.id)))
    atts: dict[int, list[Attachment]] = {}
    if with_attachments and rows:
        for att in db.scalars(
            select(Attachment)
            .where(Attachment.record_id.in_([r.id for r in rows]))
            .order_by(Attachment.id)
        ):
            atts.setdefault(att.record_id, []).append(att)
    live = set(v.keys.key_ids())
    pkey = probe_key(v)
    dkey = _derived(v, _DIGEST_LABEL)
    out: list[Health] = []
    unreadable = 0
    for record in rows:
        try:
            key_id = WrappedKey.from_bytes(record.wrapped_dek).key_id
        except DecryptionError:
            key_id = ""
        data: bytes | None
        try:
            dek = _data_key(v, record)
            data = decrypt_field(
                dek,
                record.content_ct,
                record_id=str(record.id),
                field="content",
                version=record.content_version,
            )
        except (CryptoError, ValueError, KeyError):
            dek, data = None, None
        found: frozenset[bytes] = frozenset()
        opened: str | None = None
        now_digest: str | None = None
        if data is not None:
            now_digest = hmac.new(dkey, data, hashlib.sha256).hexdigest()
            opened = opens_as(data, record.content_type)
            found = _probes(pkey, data)
            del data
        else:
            unreadable += 1
        out.append(
            Health(
                record_id=record.id,
                key_id=key_id,
                key_live=key_id in live,
                decrypts=now_digest is not None,
                digest=now_digest,
                opens=opened,
                probes=found,
                attachments=tuple(
                    _attachment_health(v, dek, record, a, pkey) for a in atts.get(record.id, ())
                ),
            )
        )
    auditing.record(
        v,
        db,
        caller,
        Action.RECORD_CHECK,
        outcome="ok",
        details={
            "run": run_id,
            "records": len(rows),
            "first": rows[0].id if rows else None,
            "last": rows[-1].id if rows else None,
            "unreadable": unreadable,
        },
    )
    return out


def _probes(key: bytes, data: bytes) -> frozenset[bytes]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return frozenset()
    found: set[bytes] = set()
    for token in tokens(text):
        found.add(probe_hash(key, token))
        if len(found) >= PROBES_PER_RECORD:
            break
    return frozenset(found)


def _attachment_health(
    v: Vault, dek: DataKey | None, record: Record, att: Attachment, pkey: bytes
) -> AttachmentHealth:
    import io

    try:
        blob = v.blobs.open(att.blob_key)
    except NotFound:
        return AttachmentHealth(att.id, False, None, False, None)
    with blob:
        raw = blob.read()
    sha = hashlib.sha256(raw).hexdigest()
    if dek is None:
        return AttachmentHealth(att.id, True, sha, False, None)
    try:
        plain = b"".join(
            decrypt_stream(dek, io.BytesIO(raw), aad=attachment_aad(record.id, att.id))
        )
    except (CryptoError, ValueError):
        return AttachmentHealth(att.id, True, sha, False, None)
    opened = opens_as(plain, att.content_type)
    found = _probes(pkey, plain) if att.content_type.startswith("text/") else frozenset()
    del plain
    return AttachmentHealth(att.id, True, sha, True, opened, found)
