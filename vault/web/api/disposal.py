"""Appraisal (鉴定): the retention schedule, legal holds, disposal batches, certificates."""

from __future__ import annotations

import base64
from typing import Literal

from flask import Response
from pydantic import Field

from vault.appraisal import disposal, holds, retention
from vault.models import DisposalBatch, Record, Section
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.proposals import ProposalReply
from vault.web.api.proposals import _reply as proposal_reply
from vault.web.api.schema import Body, Day, DayText, Id, LimitQuery, Reply, Timestamp
from vault.web.context import caller, db, vault
from vault.web.routing import Binary, route

Reason = Field(min_length=3, max_length=500, description="why (audited)")


class RuleReply(Reply):
    """One rule of the schedule."""

    id: str
    title: str
    section: str
    client_kinds: list[str]
    doc_types: list[str]
    anchor: str
    years: int | None


class ScheduleReply(Reply):
    """The retention schedule in force, where it comes from, and its text."""

    source: str
    sha256: str
    rules: list[RuleReply]
    text: str


class ScheduleBody(Body):
    """A new schedule (TOML text), proposed under the two-person rule."""

    text: str = Field(min_length=1, max_length=retention.MAX_SCHEDULE_CHARS)
    reason: str = Reason


class RetentionReply(Reply):
    """A record's retention: its rule, disposal date and state."""

    rule: str
    rule_title: str
    anchor: str
    years: int | None
    disposal_date: DayText | None
    state: Literal["due", "kept", "held", "until_relationship_ends", "permanent", "disposed"]


class HoldReply(Reply):
    """A legal hold."""

    id: int
    client_id: int | None
    client_code: str | None
    record_ids: list[int]
    reason: str
    placed_by: str | None
    placed_at: Timestamp
    lifted_at: Timestamp | None


class HoldList(Reply):
    """Legal holds, newest first."""

    holds: list[HoldReply]


class HoldQuery(LimitQuery):
    """Holds in force (default) or all of them."""

    all: bool = False


class HoldBody(Body):
    """A hold on a client's file or on a list of records, and why."""

    client_id: Id | None = None
    record_ids: list[Id] = Field(default_factory=list, max_length=holds.MAX_RECORDS)
    reason: str = Reason


class ReasonBody(Body):
    """Why."""

    reason: str = Reason


class RelationshipEndBody(Body):
    """The day the client relationship ended."""

    ended_on: Day


class RelationshipEnded(Reply):
    """The client, its relationship, and the day it ended."""

    client_id: int
    relationship: str
    ended_on: DayText


class DueRecord(Reply):
    """A record past its date and not held."""

    id: int
    client_id: int
    file_number: str
    title: str
    section: str
    tier: str
    retention: RetentionReply


class DueList(Reply):
    """Records that may be proposed for disposal."""

    items: list[DueRecord]


class BatchItem(Reply):
    """A record of a batch, with the rule and date it was proposed under."""

    record_id: int
    file_number: str
    title: str
    rule: str
    due_on: DayText
    disposed_at: Timestamp | None


class BatchReply(Reply):
    """A disposal batch: who proposed, who approved, where it stands."""

    id: int
    status: Literal["proposed", "disposed", "rejected"]
    reason: str
    proposed_by: int
    proposed_at: Timestamp
    needs_custodian: bool
    approved_by: int | None
    countersigned_by: int | None
    decided_at: Timestamp | None
    note: str
    certificate_sha256: str | None
    items: list[BatchItem]


class BatchList(Reply):
    """Disposal batches, newest first."""

    batches: list[BatchReply]


class BatchQuery(LimitQuery):
    """Batches of one status, or all."""

    status: Literal["proposed", "disposed", "rejected"] | None = None


class BatchBody(Body):
    """The records to dispose of, and why."""

    record_ids: list[Id] = Field(min_length=1, max_length=disposal.MAX_BATCH)
    reason: str = Reason


class NoteBody(Body):
    """A note kept with the decision."""

    note: str = Field("", max_length=500)


class RejectBody(Body):
    """Why the batch is turned down."""

    note: str = Field(min_length=3, max_length=500)


def retention_reply(r: retention.Retention) -> RetentionReply:
    """The API's view of a record's retention."""
    return RetentionReply.model_validate(r.as_json())


def _hold(h: holds.HoldView) -> HoldReply:
    return HoldReply.model_validate(h.as_json())


def _batch(b: DisposalBatch) -> BatchReply:
    session = db()
    cert = None
    if b.status == "disposed":
        from sqlalchemy import select

        from vault.models import DestructionCertificate

        cert = session.scalar(
            select(DestructionCertificate.sha256).where(DestructionCertificate.batch_id == b.id)
        )
    return BatchReply(
        id=b.id,
        status=b.status,  # type: ignore[arg-type]
        reason=b.reason,
        proposed_by=b.proposed_by_id,
        proposed_at=b.proposed_at.isoformat(),
        needs_custodian=b.needs_custodian,
        approved_by=b.admin_approved_by_id,
        countersigned_by=b.custodian_approved_by_id,
        decided_at=b.decided_at.isoformat() if b.decided_at else None,
        note=b.note,
        certificate_sha256=cert,
        items=[
            BatchItem(
                record_id=r.id,
                file_number=r.file_number,
                title=r.title,
                rule=i.rule,
                due_on=i.due_on.isoformat(),
                disposed_at=r.disposed_at.isoformat() if r.disposed_at else None,
            )
            for i, r in disposal.items(session, b)
        ],
    )


def _section(r: Record) -> str:
    return Section(r.section).name.lower()


@route(
    bp,
    "/retention/schedule",
    action=Action.RETENTION_READ,
    summary="The retention schedule in force (auditors, admins, custodians)",
    responses={200: ScheduleReply},
)
def schedule_show() -> ScheduleReply:
    got = retention.read(vault(), db(), caller())
    return ScheduleReply(
        source=got.source,
        sha256=got.sha256,
        text=got.text,
        rules=[
            RuleReply(
                id=r.id,
                title=r.title,
                section=r.section,
                client_kinds=[str(k) for k in r.client_kinds],
                doc_types=list(r.doc_types),
                anchor=r.anchor,
                years=r.years,
            )
            for r in got.schedule.rules
        ],
    )


@route(
    bp,
    "/retention/schedule",
    action=Action.RETENTION_LOAD,
    methods=["POST"],
    summary="Propose a new retention schedule (202: a second admin approves)",
    body=ScheduleBody,
    responses={202: ProposalReply},
)
def schedule_propose(body: ScheduleBody) -> ProposalReply:
    return proposal_reply(retention.propose(vault(), db(), caller(), body.text, body.reason))


@route(
    bp,
    "/records/<int:record_id>/retention",
    action=Action.RECORD_READ,
    summary="A record's retention rule, disposal date and state",
    responses={200: RetentionReply},
)
def record_retention(record_id: int) -> RetentionReply:
    from vault.archive import records

    record = records.get_record(db(), record_id)
    return retention_reply(retention.retention_for(vault(), db(), record))


@route(
    bp,
    "/clients/<int:client_id>/relationship-end",
    action=Action.CLIENT_END,
    methods=["POST"],
    summary="Record that the client relationship ended (custodian); disposal dates follow",
    body=RelationshipEndBody,
    responses={200: RelationshipEnded},
)
def relationship_end(client_id: int, body: RelationshipEndBody) -> RelationshipEnded:
    c = retention.end_relationship(vault(), db(), caller(), client_id, body.ended_on)
    assert c.relationship_ended_on is not None
    return RelationshipEnded(
        client_id=c.id, relationship=c.relationship, ended_on=c.relationship_ended_on.isoformat()
    )


@route(
    bp,
    "/holds",
    action=Action.DISPOSAL_READ,
    summary="Legal holds (in force; all=true for lifted ones too)",
    query=HoldQuery,
    responses={200: HoldList},
)
def hold_list(query: HoldQuery) -> HoldList:
    found = holds.listing(vault(), db(), caller(), active_only=not query.all, limit=query.limit)
    return HoldList(holds=[_hold(h) for h in found])


@route(
    bp,
    "/holds",
    action=Action.HOLD_PLACE,
    methods=["POST"],
    summary="Place a legal hold on a client's file or a list of records (custodian, admin)",
    body=HoldBody,
    responses={201: HoldReply},
)
def hold_place(body: HoldBody) -> HoldReply:
    hold = holds.place(
        vault(),
        db(),
        caller(),
        reason=body.reason,
        client_id=body.client_id,
        record_ids=list(body.record_ids),
    )
    return _hold(holds.view(db(), hold))


@route(
    bp,
    "/holds/<int:hold_id>/lift",
    action=Action.HOLD_LIFT,
    methods=["POST"],
    summary="Propose lifting a legal hold (202: a second admin approves)",
    body=ReasonBody,
    responses={202: ProposalReply},
)
def hold_lift(hold_id: int, body: ReasonBody) -> ProposalReply:
    return proposal_reply(holds.propose_lift(vault(), db(), caller(), hold_id, body.reason))


@route(
    bp,
    "/disposal/due",
    action=Action.DISPOSAL_READ,
    summary="Records past their retention date and not held (metadata only)",
    query=LimitQuery,
    responses={200: DueList},
)
def disposal_due(query: LimitQuery) -> DueList:
    found = disposal.due(vault(), db(), caller(), limit=query.limit)
    return DueList(
        items=[
            DueRecord(
                id=d.record.id,
                client_id=d.record.client_id,
                file_number=d.record.file_number,
                title=d.record.title,
                section=_section(d.record),
                tier=d.record.client.tier,
                retention=retention_reply(d.retention),
            )
            for d in found
        ]
    )


@route(
    bp,
    "/disposal/batches",
    action=Action.DISPOSAL_READ,
    summary="Disposal batches, newest first",
    query=BatchQuery,
    responses={200: BatchList},
)
def batch_list(query: BatchQuery) -> BatchList:
    found = disposal.batches(vault(), db(), caller(), status=query.status, limit=query.limit)
    return BatchList(batches=[_batch(b) for b in found])


@route(
    bp,
    "/disposal/batches",
    action=Action.DISPOSAL_PROPOSE,
    methods=["POST"],
    summary="Propose a disposal batch of due records (custodian of their tiers)",
    body=BatchBody,
    responses={201: BatchReply},
)
def batch_propose(body: BatchBody) -> BatchReply:
    return _batch(disposal.propose(vault(), db(), caller(), list(body.record_ids), body.reason))


@route(
    bp,
    "/disposal/batches/<int:batch_id>",
    action=Action.DISPOSAL_READ,
    summary="One disposal batch",
    responses={200: BatchReply},
)
def batch_show(batch_id: int) -> BatchReply:
    return _batch(disposal.read_batch(vault(), db(), caller(), batch_id))


@route(
    bp,
    "/disposal/batches/<int:batch_id>/approve",
    action=Action.DISPOSAL_APPROVE,
    methods=["POST"],
    summary="Approve a batch as an admin (not its proposer); carried out once complete",
    body=NoteBody,
    responses={200: BatchReply},
)
def batch_approve(batch_id: int, body: NoteBody) -> BatchReply:
    return _batch(disposal.approve(vault(), db(), caller(), batch_id, body.note))


@route(
    bp,
    "/disposal/batches/<int:batch_id>/countersign",
    action=Action.DISPOSAL_COUNTERSIGN,
    methods=["POST"],
    summary="Countersign a batch with core records (a second custodian, not its proposer)",
    body=NoteBody,
    responses={200: BatchReply},
)
def batch_countersign(batch_id: int, body: NoteBody) -> BatchReply:
    return _batch(disposal.countersign(vault(), db(), caller(), batch_id, body.note))


@route(
    bp,
    "/disposal/batches/<int:batch_id>/reject",
    action=Action.DISPOSAL_REJECT,
    methods=["POST"],
    summary="Turn a batch down (an admin, not its proposer; with a note)",
    body=RejectBody,
    responses={200: BatchReply},
)
def batch_reject(batch_id: int, body: RejectBody) -> BatchReply:
    return _batch(disposal.reject(vault(), db(), caller(), batch_id, body.note))


@route(
    bp,
    "/disposal/batches/<int:batch_id>/certificate",
    action=Action.DISPOSAL_READ,
    summary="The signed destruction certificate (PDF; X-Signature: Ed25519 over its SHA-256)",
    responses={
        200: Binary(
            ("application/pdf",),
            "The certificate (headers X-Signature, X-Certificate-SHA256, X-Key-Fingerprint)",
        )
    },
)
def batch_certificate(batch_id: int) -> Response:
    cert = disposal.certificate(vault(), db(), caller(), batch_id)
    return Response(
        cert.pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="destruction-certificate-{batch_id}.pdf"',
            "X-Signature": base64.b64encode(cert.signature).decode(),
            "X-Certificate-SHA256": cert.sha256,
            "X-Key-Fingerprint": cert.key_fingerprint,
        },
    )
