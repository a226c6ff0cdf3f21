"""The client dossier (编研): a compilation of one client file, metadata only.

A custodian of the client's tier compiles it: the file's catalogue by section and year,
the credit-report timeline with its lapses, the loans of its items, its reviews and the
signs of risk the portfolio sees. It never reads a record's content (nothing here
goes near the choke point's unsealer). Compiling it is a use of the client file,
decided and audited as ``client:dossier``; the PDF carries a copy id, the compiler and
the time in a watermark, and the copy id is in the audit event (as for a copy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from vault import authz
from vault.appraisal import portfolio
from vault.archive.records import get_client
from vault.caller import Caller
from vault.custody import watermarks
from vault.models import Attachment, Client, ClientReview, Item, Loan, Person, Record, Section
from vault.policy import Action, Target
from vault.runtime import Vault


@dataclass(frozen=True)
class Entry:
    """A record as the catalogue lists it."""

    record_id: int
    file_number: str
    title: str
    doc_type: str
    doc_date: date | None
    valid_until: date | None
    attachments: int


@dataclass(frozen=True)
class Span:
    """A credit report's validity, or a lapse between two (``file_number`` empty)."""

    start: date
    end: date
    file_number: str
    lapse: bool


@dataclass(frozen=True)
class LoanLine:
    """A loan of one of the client's items."""

    file_number: str
    item: str
    borrower: str
    out_at: datetime
    due_at: datetime
    returned_at: datetime | None


@dataclass(frozen=True)
class ReviewLine:
    """A review of the client file."""

    reviewed_at: datetime
    by: str


@dataclass
class Dossier:
    """What the page and the PDF show."""

    client: Client
    compiled_at: datetime
    event_id: str
    copy_id: str
    catalogue: dict[tuple[int, int], list[Entry]] = field(default_factory=dict)
    credit: list[Span] = field(default_factory=list)
    loans: list[LoanLine] = field(default_factory=list)
    reviews: list[ReviewLine] = field(default_factory=list)
    risks: tuple[str, ...] = ()
    review_due_on: date | None = None


def timeline(reports: list[tuple[str, date, date]], today: date) -> list[Span]:
    """Validity spans of credit reports (file number, made on, valid until), in order,
    with a lapse wherever no report was valid, up to ``today``."""
    spans: list[Span] = []
    covered: date | None = None
    for number, start, end in sorted(reports, key=lambda r: (r[1], r[2])):
        if covered is not None and start > covered + timedelta(days=1):
            spans.append(Span(covered + timedelta(days=1), start - timedelta(days=1), "", True))
        spans.append(Span(start, end, number, False))
        covered = end if covered is None else max(covered, end)
    if covered is not None and covered < today:
        spans.append(Span(covered + timedelta(days=1), today, "", True))
    return spans


def compile_dossier(
    v: Vault, db: Session, caller: Caller, client_id: int, *, fmt: str = "page"
) -> Dossier:
    """Compile the dossier of one client file (custodians of its tier); audited first."""
    client = get_client(db, client_id)
    copy_id = watermarks.new_copy_id()
    event = authz.require(
        v,
        db,
        caller,
        Action.CLIENT_DOSSIER,
        Target(record_id=None, client_id=client.id, tier=client.tier),
        resource={"client": client.id},
        details={"format": fmt, "copy_id": copy_id},
        is_requester=False,
        audited=True,
    )
    assert event is not None  # a person's act (the operator holds no custody)
    out = Dossier(client=client, compiled_at=event.time, event_id=event.id, copy_id=copy_id)
    counts = dict(
        db.execute(
            select(Attachment.record_id, func.count())
            .join(Record, Record.id == Attachment.record_id)
            .where(Record.client_id == client.id)
            .group_by(Attachment.record_id)
        ).all()
    )
    rows = db.execute(
        select(
            Record.id,
            Record.section,
            Record.year,
            Record.file_number,
            Record.title,
            Record.doc_type,
            Record.doc_date,
            Record.valid_until,
            Record.created_at,
        )
        .where(Record.client_id == client.id)
        .order_by(Record.section, Record.year, Record.seq)
    ).all()
    reports: list[tuple[str, date, date]] = []
    for r in rows:
        out.catalogue.setdefault((r.section, r.year), []).append(
            Entry(
                r.id,
                r.file_number,
                r.title,
                r.doc_type,
                r.doc_date,
                r.valid_until,
                counts.get(r.id, 0),
            )
        )
        if r.section == int(Section.CREDIT) and r.valid_until is not None:
            reports.append((r.file_number, r.doc_date or r.created_at.date(), r.valid_until))
    today = date.today()
    out.credit = timeline(reports, today)
    borrower = aliased(Person)
    for number, label, who, loan in db.execute(
        select(Record.file_number, Item.label, borrower.email, Loan)
        .join(Item, Item.id == Loan.item_id)
        .join(Record, Record.id == Loan.record_id)
        .join(borrower, borrower.id == Loan.borrower_id)
        .where(Record.client_id == client.id)
        .order_by(Loan.out_at)
    ):
        out.loans.append(LoanLine(number, label, who, loan.out_at, loan.due_at, loan.returned_at))
    by = aliased(Person)
    for at, email in db.execute(
        select(ClientReview.reviewed_at, by.email)
        .outerjoin(by, by.id == ClientReview.reviewed_by_id)
        .where(ClientReview.client_id == client.id)
        .order_by(ClientReview.reviewed_at)
    ):
        out.reviews.append(ReviewLine(at, email or "—"))
    found = portfolio.signs(v, db, [client], today=today)[client.id]
    out.risks, out.review_due_on = found.risks, found.review_due_on
    return out


def stamp(pdf: bytes, dossier: Dossier, who: str) -> bytes:
    """The dossier's PDF under its watermark (copy id, compiler, time)."""
    mark = watermarks.Mark(copy_id=dossier.copy_id, who=who, when=dossier.compiled_at)
    return watermarks.stamp(pdf, "application/pdf", mark)


__all__ = ["Client", "Dossier", "compile_dossier", "stamp", "timeline"]
