"""Loans of physical items: the loans still out."""

from __future__ import annotations

from pydantic import Field

from vault.custody import loans
from vault.db import utcnow
from vault.models import Loan
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Flag, PageQuery, Reply, Timestamp
from vault.web.context import caller, db, vault
from vault.web.routing import route


class LoanCard(Reply):
    """A loan as the API shows it (no content)."""

    id: int
    item_id: int
    record_id: int
    borrower_id: int
    lent_by: int | None
    grant_id: int | None
    out_at: Timestamp
    due_at: Timestamp
    renewals: int
    pages_out: int
    returned_at: Timestamp | None
    received_by: int | None
    pages_in: int | None
    condition: str | None
    pages_mismatch: bool
    overdue: bool
    reminders_sent: int

    @classmethod
    def of(cls, loan: Loan) -> LoanCard:
        return cls(
            id=loan.id,
            item_id=loan.item_id,
            record_id=loan.record_id,
            borrower_id=loan.borrower_id,
            lent_by=loan.lent_by_id,
            grant_id=loan.grant_id,
            out_at=loan.out_at.isoformat(),
            due_at=loan.due_at.isoformat(),
            renewals=loan.renewals,
            pages_out=loan.pages_out,
            returned_at=loan.returned_at.isoformat() if loan.returned_at else None,
            received_by=loan.received_by_id,
            pages_in=loan.pages_in,
            condition=loan.condition,
            pages_mismatch=loan.pages_mismatch,
            overdue=loan.is_overdue(utcnow()),
            reminders_sent=loan.reminders_sent,
        )


class LoanPage(Reply):
    """One page of loans."""

    items: list[LoanCard]
    limit: int
    offset: int


class LoanQuery(PageQuery):
    """Which loans."""

    overdue: Flag = Field(False, description="only overdue loans")


@route(
    bp,
    "/loans",
    action=Action.ITEM_READ,
    summary="Loans still out (custodians, auditors)",
    query=LoanQuery,
    responses={200: LoanPage},
)
def list_loans(query: LoanQuery) -> LoanPage:
    found = loans.loans(
        vault(),
        db(),
        caller(),
        overdue_only=query.overdue,
        limit=query.limit,
        offset=query.offset,
    )
    return LoanPage(items=[LoanCard.of(x) for x in found], limit=query.limit, offset=query.offset)
