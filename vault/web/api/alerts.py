"""Alerts for auditors, and who is under review."""

from __future__ import annotations

from pydantic import Field

from vault.oversight import alerts as alerts_
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Flag, Query, Reply, Timestamp
from vault.web.context import db, vault
from vault.web.routing import route


class AlertQuery(Query):
    """Which alerts."""

    all: Flag = Field(False, description="include cleared")


class AlertCard(Reply):
    """An alert."""

    id: int
    kind: str
    person_id: int | None
    summary: str
    created_at: Timestamp
    cleared_at: Timestamp | None


class UnderReview(Reply):
    """A person under review."""

    id: int
    email: str


class AlertList(Reply):
    """The newest alerts, and who is under review."""

    items: list[AlertCard]
    under_review: list[UnderReview]


@route(
    bp,
    "/alerts",
    action=Action.ALERT_READ,
    summary="Open alerts (auditors)",
    query=AlertQuery,
    responses={200: AlertList},
)
def alerts(query: AlertQuery) -> AlertList:
    found, under_review = alerts_.open_alerts(
        db(), include_cleared=query.all, limit=vault().config.page_size_max
    )
    return AlertList(
        items=[
            AlertCard(
                id=a.id,
                kind=a.kind,
                person_id=a.person_id,
                summary=a.summary,
                created_at=a.created_at.isoformat(),
                cleared_at=a.cleared_at.isoformat() if a.cleared_at else None,
            )
            for a in found
        ],
        under_review=[UnderReview(id=p.id, email=p.email) for p in under_review],
    )
