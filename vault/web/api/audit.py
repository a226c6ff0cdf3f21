"""The audit log (auditors): read its events, verify it, trace a watermarked copy."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from audit import query_events
from vault.custody import copies
from vault.policy import Action
from vault.web.api.attachments import FileUpload
from vault.web.api.blueprint import bp
from vault.web.api.schema import Id, LimitQuery, Reply, Timestamp
from vault.web.context import caller, db, vault
from vault.web.routing import route


class AuditQuery(LimitQuery):
    """Filters of the audit log, paged by sequence number."""

    after_seq: int | None = Field(None, ge=0, le=2**62, description="page after this seq")
    action: str | None = Field(None, max_length=64, description="action tag")
    person_id: Id | None = Field(None, description="actor")
    record: str | None = Field(None, max_length=32, description="record id")
    client: str | None = Field(None, max_length=32, description="client id")
    decision: Literal["allow", "deny", "n/a"] | None = None


class Actor(Reply):
    """Who acted."""

    person_id: int | None
    subject: str | None
    ip: str | None
    user_agent: str | None


class AuditEvent(Reply):
    """One audit event, with its sequence number."""

    seq: int
    id: str
    time: Timestamp
    action: str
    actor: Actor
    decision: str
    outcome: str
    reason: str
    resource: dict[str, Any]
    policy_ids: list[str]
    purpose: str | None
    grant_id: str | None
    request_id: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, seq: int, ev: Any) -> AuditEvent:
        return cls(
            seq=seq,
            id=ev.id,
            time=ev.time.isoformat(),
            action=ev.action,
            actor=Actor(
                person_id=ev.actor.person_id,
                subject=ev.actor.subject,
                ip=ev.actor.ip,
                user_agent=ev.actor.user_agent,
            ),
            decision=ev.decision,
            outcome=ev.outcome,
            reason=ev.reason,
            resource=dict(ev.resource),
            policy_ids=list(ev.policy_ids),
            purpose=ev.purpose,
            grant_id=ev.grant_id,
            request_id=ev.request_id,
            details=dict(ev.details),
        )


class AuditEventPage(Reply):
    """Events by sequence number, ascending."""

    items: list[AuditEvent]
    limit: int


class VerifyReport(Reply):
    """Whether the log is intact; otherwise the first bad event and the problem."""

    ok: bool
    events: int
    sealed: int
    unsealed: int
    checkpoints: int
    first_bad_seq: int | None
    first_bad_event_id: str | None
    problem: str | None


class PersonRef(Reply):
    """A person, briefly."""

    id: int
    email: str
    name: str


class RecordRef(Reply):
    """A record, briefly."""

    id: int
    file_number: str


class CopyTrace(Reply):
    """Who a copy was made for, from its audit event."""

    copy_id: str
    time: Timestamp
    event_id: str
    person: PersonRef | None
    record: RecordRef | None
    grant_id: str | None
    purpose: str | None
    format: str | None


@route(
    bp,
    "/audit/events",
    action=Action.AUDIT_READ,
    summary="Read the audit log (auditors)",
    query=AuditQuery,
    responses={200: AuditEventPage},
)
def audit_events(query: AuditQuery) -> AuditEventPage:
    rows = query_events(
        db().connection(),
        after_seq=query.after_seq,
        limit=query.limit,
        action=query.action,
        person_id=query.person_id,
        record=query.record,
        client=query.client,
        decision=query.decision,
    )
    return AuditEventPage(items=[AuditEvent.of(seq, ev) for seq, ev in rows], limit=query.limit)


@route(
    bp,
    "/audit/verify",
    action=Action.AUDIT_VERIFY,
    summary="Verify the audit log's integrity",
    responses={200: VerifyReport},
)
def audit_verify() -> VerifyReport:
    report = vault().audit.verify(db().connection(), witness=vault().audit.witness)
    return VerifyReport(
        ok=report.ok,
        events=report.events,
        sealed=report.sealed,
        unsealed=report.unsealed,
        checkpoints=report.checkpoints,
        first_bad_seq=report.first_bad_seq,
        first_bad_event_id=report.first_bad_event_id,
        problem=report.problem,
    )


@route(
    bp,
    "/audit/trace-copy",
    action=Action.AUDIT_READ,
    methods=["POST"],
    summary="Name the person, time and grant a watermarked copy was made for (multipart 'file')",
    body=FileUpload,
    responses={200: CopyTrace},
)
def trace_copy(body: FileUpload) -> CopyTrace:
    t = copies.trace_copy(vault(), db(), caller(), body.file.read())
    ev = t.event
    fmt = ev.details.get("format")
    return CopyTrace(
        copy_id=t.copy_id,
        time=ev.time.isoformat(),
        event_id=ev.id,
        person=PersonRef(id=t.person.id, email=t.person.email, name=t.person.name)
        if t.person
        else None,
        record=RecordRef(id=t.record.id, file_number=t.record.file_number) if t.record else None,
        grant_id=ev.grant_id,
        purpose=ev.purpose,
        format=None if fmt is None else str(fmt),
    )
