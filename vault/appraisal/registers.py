"""The loan register (借阅登记) and the use register (利用登记), for any period.

The loan register lists each check-out of an item that was out during the period: who
took it, which folder (item, record, client), for what purpose, when it went out, when
it was due, when it came back, and its pages out and in. The use register lists each
consultation and copy of a record in the period, allowed or refused: who, which record,
the purpose they stated and the outcome. Both are catalogue metadata and audit facts:
no content is read. Reading a register (page, CSV, PDF) is itself audited
(``register:read``); auditors and custodians may."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from audit.schema import audit_events
from vault import auditing, authz
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import InvalidInput
from vault.models import Client, Item, Loan, Person, Record
from vault.policy import Action
from vault.runtime import Vault

REGISTERS = ("loans", "uses")
FORMATS = ("page", "csv", "pdf", "json")
USE_ACTIONS = (Action.RECORD_CONSULT.value, Action.RECORD_COPY.value)
MAX_ROWS = 20_000
_e = audit_events.c


@dataclass(frozen=True)
class Period:
    """From the start of ``start`` to the end of ``end`` (UTC days)."""

    start: date
    end: date

    @classmethod
    def of(cls, start: date | None, end: date | None, *, default_days: int = 30) -> Period:
        """The period asked for; the last ``default_days`` days when none is given."""
        end = end or date.today()
        start = start or end - timedelta(days=default_days - 1)
        if start > end or (end - start).days > 3660:
            raise InvalidInput(
                "the period must run forward, ten years at most", code="invalid_period"
            )
        return cls(start, end)

    @property
    def since(self) -> datetime:
        """The first instant of the period."""
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)


@dataclass(frozen=True)
class LoanRow:
    """One line of the loan register."""

    loan_id: int
    borrower: str
    lent_by: str
    client_code: str
    file_number: str
    item: str
    purpose: str
    out_at: datetime
    due_at: datetime
    returned_at: datetime | None
    pages_out: int
    pages_in: int | None
    condition: str | None
    status: str  # out, overdue, returned


@dataclass(frozen=True)
class UseRow:
    """One line of the use register."""

    time: datetime
    kind: str  # record:consult, record:copy
    person: str
    file_number: str
    client_code: str
    purpose: str
    decision: str
    outcome: str
    reason: str
    copy_id: str


def _audit(
    v: Vault, db: Session, caller: Caller, register: str, period: Period, fmt: str, rows: int
) -> None:
    auditing.record(
        v,
        db,
        caller,
        Action.REGISTER_READ,
        outcome="ok",
        details={
            "register": register,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "format": fmt,
            "rows": rows,
        },
    )


def loan_register(
    v: Vault, db: Session, caller: Caller, period: Period, *, fmt: str = "page"
) -> list[LoanRow]:
    """Loans that were out at any time in ``period`` (out before its end, not back before
    its start), oldest first; the reading is audited."""
    authz.require(v, db, caller, Action.REGISTER_READ)
    borrower, lender = aliased(Person), aliased(Person)
    stmt = (
        select(Loan, borrower.email, lender.email, Record.file_number, Client.code, Item.label)
        .join(borrower, borrower.id == Loan.borrower_id)
        .join(lender, lender.id == Loan.lent_by_id)
        .join(Record, Record.id == Loan.record_id)
        .join(Client, Client.id == Record.client_id)
        .join(Item, Item.id == Loan.item_id)
        .where(
            Loan.out_at < period.until,
            or_(Loan.returned_at.is_(None), Loan.returned_at >= period.since),
        )
        .order_by(Loan.out_at, Loan.id)
        .limit(MAX_ROWS)
    )
    now = utcnow()
    rows = []
    for loan, who, by, number, code, label in db.execute(stmt):
        status = "returned" if loan.returned_at else ("overdue" if loan.is_overdue(now) else "out")
        rows.append(
            LoanRow(
                loan_id=loan.id,
                borrower=who,
                lent_by=by,
                client_code=code,
                file_number=number,
                item=label,
                purpose=loan.purpose,
                out_at=loan.out_at,
                due_at=loan.due_at,
                returned_at=loan.returned_at,
                pages_out=loan.pages_out,
                pages_in=loan.pages_in,
                condition=loan.condition,
                status=status,
            )
        )
    _audit(v, db, caller, "loans", period, fmt, len(rows))
    return rows


def use_register(
    v: Vault, db: Session, caller: Caller, period: Period, *, fmt: str = "page"
) -> list[UseRow]:
    """Consultations and copies in ``period``, allowed or refused, oldest first, from the
    audit log (its purpose and outcome); the reading is audited."""
    authz.require(v, db, caller, Action.REGISTER_READ)
    stmt = (
        select(_e.time, _e.action, _e.body, _e.decision, _e.outcome, _e.resource_record)
        .where(
            _e.action.in_(USE_ACTIONS),
            and_(_e.time >= period.since, _e.time < period.until),
        )
        .order_by(_e.seq)
        .limit(MAX_ROWS)
    )
    events = db.execute(stmt).all()
    record_ids = {int(r.resource_record) for r in events if (r.resource_record or "").isdigit()}
    numbers: dict[int, tuple[str, str]] = {}
    if record_ids:
        numbers = {
            rid: (number, code)
            for rid, number, code in db.execute(
                select(Record.id, Record.file_number, Client.code)
                .join(Client, Client.id == Record.client_id)
                .where(Record.id.in_(record_ids))
            )
        }
    rows = []
    for ev in events:
        body = json.loads(ev.body)
        actor = body.get("actor") or {}
        details = body.get("details") or {}
        rid = int(ev.resource_record) if (ev.resource_record or "").isdigit() else 0
        number, code = numbers.get(rid, ("", ""))
        when = ev.time if ev.time.tzinfo else ev.time.replace(tzinfo=UTC)
        rows.append(
            UseRow(
                time=when,
                kind=ev.action,
                person=str(actor.get("subject") or actor.get("person_id") or ""),
                file_number=number,
                client_code=code,
                purpose=str(body.get("purpose") or ""),
                decision=ev.decision,
                outcome=ev.outcome,
                reason=str(body.get("reason") or ""),
                copy_id=str(details.get("copy_id") or ""),
            )
        )
    _audit(v, db, caller, "uses", period, fmt, len(rows))
    return rows
