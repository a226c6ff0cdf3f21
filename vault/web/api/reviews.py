"""Reviews of client files: which are due, stale credit reports, mark one reviewed."""

from __future__ import annotations

from pydantic import Field

from vault.archive import file_reviews
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.clients import ClientCard
from vault.web.api.records import RecordCard
from vault.web.api.schema import DayText, PageQuery, Reply, Timestamp
from vault.web.context import caller, db, vault
from vault.web.routing import route


class DueFile(Reply):
    """A client file on the review list."""

    client: ClientCard
    last_reviewed_at: Timestamp | None
    due_on: DayText
    days_overdue: int

    @classmethod
    def of(cls, d: file_reviews.DueFile) -> DueFile:
        return cls(
            client=ClientCard.of(d.client),
            last_reviewed_at=d.last_reviewed_at.isoformat() if d.last_reviewed_at else None,
            due_on=d.due_on.isoformat(),
            days_overdue=d.days_overdue,
        )


class DuePage(Reply):
    """One page of the files due for review, and how many are due in all."""

    items: list[DueFile]
    total: int
    limit: int
    offset: int


class StaleReportPage(Reply):
    """One page of the newest credit reports past their valid_until."""

    items: list[RecordCard]
    total: int
    limit: int
    offset: int


class DueQuery(PageQuery):
    """How far ahead to look."""

    within: int = Field(0, ge=0, le=366, description="also list files due within this many days")


class Reviewed(Reply):
    """A client file marked reviewed."""

    client_id: int
    reviewed_at: Timestamp
    reviewed_by: int | None


@route(
    bp,
    "/reviews/due",
    action=Action.CLIENT_REVIEW_DUE,
    summary="Client files due for review in the caller's tiers (custodians)",
    query=DueQuery,
    responses={200: DuePage},
)
def reviews_due(query: DueQuery) -> DuePage:
    due = file_reviews.due_for_review(vault(), db(), caller(), within_days=query.within)
    page = due[query.offset : query.offset + query.limit]
    return DuePage(
        items=[DueFile.of(d) for d in page],
        total=len(due),
        limit=query.limit,
        offset=query.offset,
    )


@route(
    bp,
    "/reviews/stale-reports",
    action=Action.CLIENT_REVIEW_DUE,
    summary="Clients whose newest credit report is past its valid_until (custodians)",
    query=PageQuery,
    responses={200: StaleReportPage},
)
def stale_reports(query: PageQuery) -> StaleReportPage:
    found = file_reviews.stale_credit_reports(vault(), db(), caller())
    page = found[query.offset : query.offset + query.limit]
    return StaleReportPage(
        items=[RecordCard.of(r) for r in page],
        total=len(found),
        limit=query.limit,
        offset=query.offset,
    )


@route(
    bp,
    "/clients/<int:client_id>/review",
    action=Action.CLIENT_REVIEW,
    methods=["POST"],
    summary="Mark a client file reviewed (custodian in scope; audited)",
    responses={201: Reviewed},
)
def mark_reviewed(client_id: int) -> Reviewed:
    done = file_reviews.mark_reviewed(vault(), db(), caller(), client_id)
    return Reviewed(
        client_id=done.client_id,
        reviewed_at=done.reviewed_at.isoformat(),
        reviewed_by=done.reviewed_by_id,
    )
