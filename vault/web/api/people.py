"""People: set a departure (access ends), the departure report, clear a review."""

from __future__ import annotations

import io
from typing import Literal

from flask import Response
from pydantic import Field

from vault import csvout
from vault.errors import NotFound
from vault.models import Person
from vault.oversight import alerts
from vault.people import departures
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Body, Day, DayText, Query, Reply, Timestamp
from vault.web.context import caller, db, vault
from vault.web.routing import Binary, route


def _person(person_id: int) -> Person:
    person = db().get(Person, person_id)
    if person is None:
        raise NotFound("no such person", code="person_not_found")
    return person


class DepartureBody(Body):
    """The person's leaving date."""

    leaving_on: Day


class Departure(Reply):
    """A departure set, and how many grants it revoked."""

    person_id: int
    leaving_on: DayText | None
    grants_revoked: int


class ReportQuery(Query):
    """The window and the format."""

    days: int | None = Field(None, ge=1, le=3650, description="window (default 90)")
    format: Literal["json", "csv"] = "json"


class Touch(Reply):
    """One use of a record or client by the person."""

    time: Timestamp
    action: str
    record_id: int | None
    file_number: str | None
    client_id: int | None
    client_code: str | None
    client_name: str | None
    tier: str | None


class Leaver(Reply):
    """The person the report is about."""

    id: int
    email: str
    name: str
    leaving_on: DayText | None


class ClientBrief(Reply):
    """A client the person used."""

    code: str
    name: str | None
    tier: str | None


class PagesRead(Reply):
    """Pages of the lists the person read in the period (metadata scraping)."""

    catalogue: int
    clients: int


class DepartureReport(Reply):
    """Records and clients the person used lately, and the list pages they read."""

    person: Leaver
    days: int
    touches: list[Touch]
    clients: list[ClientBrief]
    pages: PagesRead


class ClearBody(Body):
    """Why the review is cleared."""

    note: str = Field(max_length=500)


class Cleared(Reply):
    """The person is no longer under review."""

    person_id: int
    under_review: bool


@route(
    bp,
    "/people/<int:person_id>/departure",
    action=Action.PERSON_DEPART,
    methods=["POST"],
    summary="Set a person's leaving date: their access ends now",
    body=DepartureBody,
    responses={200: Departure},
)
def depart(person_id: int, body: DepartureBody) -> Departure:
    person = _person(person_id)
    revoked = departures.set_departure(vault(), db(), caller(), person, body.leaving_on)
    return Departure(
        person_id=person.id,
        leaving_on=person.leaving_on.isoformat() if person.leaving_on else None,
        grants_revoked=revoked,
    )


@route(
    bp,
    "/people/<int:person_id>/departure-report",
    action=Action.DEPARTURE_REPORT,
    summary="Records and clients the person used lately (JSON, or format=csv)",
    query=ReportQuery,
    responses={200: (DepartureReport, Binary(("text/csv",), "The touches as CSV (format=csv)"))},
)
def departure_report(person_id: int, query: ReportQuery) -> Response | DepartureReport:
    person = _person(person_id)
    as_csv = query.format == "csv"
    touches = departures.departure_report(
        vault(), db(), caller(), person, query.days, export="csv" if as_csv else None
    )
    read = departures.pages_read(vault(), db(), caller(), person, query.days)
    rows = [
        Touch(
            time=t.time.isoformat(),
            action=t.action,
            record_id=t.record_id,
            file_number=t.file_number,
            client_id=t.client_id,
            client_code=t.client_code,
            client_name=t.client_name,
            tier=t.tier,
        )
        for t in touches
    ]
    if as_csv:
        out = io.StringIO()
        writer = csvout.writer(out)
        writer.writerow(departures.CSV_COLUMNS)
        writer.writerows(departures.csv_rows(touches, read))
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="departure-{person.id}.csv"',
                "Cache-Control": "no-store",
            },
        )
    clients = sorted({(t.client_code, t.client_name, t.tier) for t in touches if t.client_code})
    return DepartureReport(
        person=Leaver(
            id=person.id,
            email=person.email,
            name=person.name,
            leaving_on=person.leaving_on.isoformat() if person.leaving_on else None,
        ),
        days=query.days or vault().config.departure_report_days,
        touches=rows,
        clients=[ClientBrief(code=c, name=n, tier=t) for c, n, t in clients],
        pages=PagesRead(**read),
    )


@route(
    bp,
    "/people/<int:person_id>/review/clear",
    action=Action.REVIEW_CLEAR,
    methods=["POST"],
    summary="Clear a person under review (auditors)",
    body=ClearBody,
    responses={200: Cleared},
)
def clear_review(person_id: int, body: ClearBody) -> Cleared:
    alerts.clear_review(vault(), db(), caller(), _person(person_id), body.note)
    return Cleared(person_id=person_id, under_review=False)
