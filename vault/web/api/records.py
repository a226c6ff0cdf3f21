"""The record catalogue: search, deposit, a record's card, consult its content, copy it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from flask import Response
from pydantic import BeforeValidator, Field, model_validator

from vault import access
from vault.appraisal import checks, disposal, holds, retention
from vault.archive import records
from vault.models import Record, Section
from vault.oversight import pages
from vault.policy import Action
from vault.web.api.attachments import AttachmentCard, ConsultQuery
from vault.web.api.blueprint import bp
from vault.web.api.disposal import RetentionReply, retention_reply
from vault.web.api.schema import (
    NO_STORE,
    Body,
    Day,
    DayText,
    Id,
    PageQuery,
    Purpose,
    Reply,
    Timestamp,
    refuse,
    render,
)
from vault.web.context import caller, db, vault
from vault.web.routing import Binary, route


def _section(value: Any) -> Any:
    """``"credit"``, ``"2"`` or ``2`` -> ``"credit"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        value = value.strip().lower()
        if not value.isdigit():
            return value
        value = int(value)
    if isinstance(value, int) and value in set(Section):
        return Section(value).name.lower()
    return value


SectionName = Annotated[
    Literal["basic", "credit", "transactions", "returns"],
    BeforeValidator(_section),
    Field(description="a section by name, or its number 1-4"),
]


class RecordCard(Reply):
    """A record's catalogue card: metadata only."""

    id: int
    client_id: int
    client_code: str
    file_number: str
    section: str
    year: int
    title: str
    doc_type: str
    doc_date: DayText | None
    valid_until: DayText | None
    content_type: str
    content_size: int
    deposited_by: int | None
    created_at: Timestamp
    disposed_at: Timestamp | None = Field(
        None, description="when the record was disposed of (its content no longer exists)"
    )
    held: bool | None = Field(None, description="a legal hold keeps the record (catalogue)")

    @classmethod
    def of(cls, r: Record | access.Card) -> RecordCard:
        return cls(
            id=r.id,
            client_id=r.client_id,
            client_code=r.client.code,
            file_number=r.file_number,
            section=Section(r.section).name.lower(),
            year=r.year,
            title=r.title,
            doc_type=r.doc_type,
            doc_date=r.doc_date.isoformat() if r.doc_date else None,
            valid_until=r.valid_until.isoformat() if r.valid_until else None,
            content_type=r.content_type,
            content_size=r.content_size,
            deposited_by=r.deposited_by_id,
            created_at=r.created_at.isoformat(),
            disposed_at=r.disposed_at.isoformat() if r.disposed_at else None,
            held=None,
        )


class HoldBrief(Reply):
    """A legal hold on the record's card (its reason is on the custodians' pages)."""

    id: int
    placed_at: Timestamp


class Disposal(Reply):
    """How a disposed record was disposed of: the batch, its rule, approvers and date."""

    batch_id: int
    rule: str
    proposed_by: int
    approved_by: int | None
    countersigned_by: int | None
    disposed_at: Timestamp


class CheckFindingBrief(Reply):
    """A fault the four-properties check found on the record, still open (codes only)."""

    property: str
    code: str
    run_id: int
    attachment_id: int | None


class RecordDetail(RecordCard):
    """A record's card: its attachments, retention, holds, and disposal if disposed of."""

    attachments: list[AttachmentCard]
    retention: RetentionReply
    holds: list[HoldBrief]
    disposal: Disposal | None = None
    check_findings: list[CheckFindingBrief] = Field(
        default_factory=list,
        description="faults of the four-properties check not yet found sound again",
    )


class RecordPage(Reply):
    """One page of records."""

    items: list[RecordCard]
    limit: int
    offset: int


class RecordQuery(PageQuery):
    """Filters of the record catalogue."""

    client_id: Id | None = Field(None, description="client")
    section: SectionName | None = None
    year: int | None = Field(None, ge=0, le=9999, description="year volume")
    q: str | None = Field(None, max_length=200, description="title or file number contains")


class DepositBody(Body):
    """A record handed in: metadata in clear, and exactly one of content or content_base64."""

    codes: ClassVar[Mapping[str, str]] = {"content_base64": "invalid_content"}

    client_id: Id
    section: SectionName
    title: str = Field(min_length=1, max_length=300)
    content: str | None = Field(None, description="text content (UTF-8)")
    content_base64: str | None = Field(None, description="binary content, base64")
    year: int | None = Field(None, ge=1900, le=9999)
    doc_type: str | None = Field(None, max_length=64)
    doc_date: Day | None = None
    valid_until: Day | None = Field(None, description="credit reports only")
    content_type: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def _one_content(self) -> DepositBody:
        if (self.content is None) == (self.content_base64 is None):
            raise refuse("missing_content", "give exactly one of content or content_base64")
        if self.content_base64 is not None:
            self.data  # noqa: B018 - refuse bad base64 here
        return self

    @property
    def data(self) -> bytes:
        """The content's bytes."""
        if self.content is not None:
            return self.content.encode("utf-8")
        try:
            return base64.b64decode(self.content_base64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise refuse("invalid_content", "content_base64 is not valid base64") from None


class PurposeBody(Body):
    """Why the caller does it (audited)."""

    purpose: Purpose | None = None


class Consultation(Reply):
    """A record's card and its content: ``content`` for text, else ``content_base64``."""

    record: RecordCard
    event_id: str = Field(description="the audit event of this consultation")
    content: str | None = None
    content_base64: str | None = None


@route(
    bp,
    "/records",
    action=Action.RECORD_READ,
    summary="Search the record catalogue (each page counts against the page quota)",
    query=RecordQuery,
    responses={200: RecordPage},
    writes=True,
)
def list_records(query: RecordQuery) -> RecordPage:
    pages.read_page(vault(), db(), caller(), Action.RECORD_READ, offset=query.offset)
    found = records.list_records(
        db(),
        client_id=query.client_id,
        section=query.section,
        year=query.year,
        q=query.q,
        limit=query.limit,
        offset=query.offset,
    )
    held = holds.held_ids(db(), found)
    return RecordPage(
        items=[RecordCard.of(r).model_copy(update={"held": r.id in held}) for r in found],
        limit=query.limit,
        offset=query.offset,
    )


@route(
    bp,
    "/records",
    action=Action.RECORD_DEPOSIT,
    methods=["POST"],
    summary="Deposit a record (intake); the depositor cannot read it back",
    body=DepositBody,
    responses={201: RecordCard},
)
def deposit(body: DepositBody) -> RecordCard:
    record = records.deposit(
        vault(),
        db(),
        caller(),
        records.Deposit(
            client_id=body.client_id,
            section=body.section,
            title=body.title,
            content=body.data,
            year=body.year,
            doc_type=body.doc_type or "",
            doc_date=body.doc_date,
            valid_until=body.valid_until,
            content_type=body.content_type or "text/plain; charset=utf-8",
        ),
    )
    return RecordCard.of(record)


@route(
    bp,
    "/records/<int:record_id>",
    action=Action.RECORD_READ,
    summary="A record's card",
    responses={200: RecordDetail},
)
def get_record(record_id: int) -> RecordDetail:
    session = db()
    record = records.get_record(session, record_id)
    attachments = [AttachmentCard.of(a) for a in records.attachments_of(session, record_id)]
    on = holds.holds_on(session, record)
    gone = disposal.how_disposed(session, record)
    card = RecordCard.of(record).model_copy(update={"held": bool(on)})
    return RecordDetail(
        **dict(card),
        attachments=attachments,
        retention=retention_reply(retention.retention_for(vault(), session, record)),
        holds=[HoldBrief(id=h.id, placed_at=h.placed_at.isoformat()) for h in on],
        disposal=Disposal.model_validate(gone) if gone else None,
        check_findings=[
            CheckFindingBrief(
                property=f.property, code=f.code, run_id=f.run_id, attachment_id=f.attachment_id
            )
            for f in checks.open_findings(session, record_id)
        ],
    )


@route(
    bp,
    "/records/<int:record_id>/content",
    action=Action.RECORD_CONSULT,
    methods=["GET", "POST"],
    summary="Consult a record's content (audited; purpose required: query on GET, body on POST)",
    query=ConsultQuery,
    body=PurposeBody,
    responses={200: Consultation},
)
def consult(record_id: int, query: ConsultQuery, body: PurposeBody | None = None) -> Response:
    purpose = body.purpose if body is not None else query.purpose
    got = access.consult(vault(), db(), caller(), record_id, purpose)
    reply: dict[str, Any] = {"record": RecordCard.of(got.record), "event_id": got.event_id}
    if got.record.content_type.startswith("text/"):
        try:
            reply["content"] = got.data.decode("utf-8")
        except UnicodeDecodeError:
            reply["content_base64"] = base64.b64encode(got.data).decode()
    else:
        reply["content_base64"] = base64.b64encode(got.data).decode()
    return render(Consultation(**reply), headers=NO_STORE, exclude_unset=True)


_EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


@route(
    bp,
    "/records/<int:record_id>/copy",
    action=Action.RECORD_COPY,
    methods=["POST"],
    summary="A watermarked copy of a record (copy grant or custodian; purpose required)",
    body=PurposeBody,
    responses={
        200: Binary(
            ("application/pdf", "image/png", "image/jpeg", "text/plain", "text/*"),
            "The watermarked copy, in the record's own format (headers X-Copy-Id, X-Audit-Event)",
        )
    },
)
def copy_record(record_id: int, body: PurposeBody) -> Response:
    made = access.copy(vault(), db(), caller(), record_id, body.purpose)
    ext = _EXTENSIONS.get(made.media_type, "txt")
    headers = dict(NO_STORE)
    headers["Content-Disposition"] = (
        f'attachment; filename="{made.record.file_number}-{made.copy_id}.{ext}"'
    )
    headers["X-Copy-Id"] = made.copy_id
    headers["X-Audit-Event"] = made.event_id
    return Response(made.data, mimetype=made.media_type, headers=headers)
