"""API for custody work: reviews of client files, statistics, traced copies, lending."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from vault import access
from vault.archive import file_reviews
from vault.custody import copies, loans
from vault.db import utcnow
from vault.errors import InvalidInput, NotFound
from vault.models import Item, Loan, Person
from vault.oversight import statistics
from vault.people import directory
from vault.policy import Action
from vault.web.api import parse
from vault.web.api.blueprint import bp
from vault.web.api.views import NO_STORE, client_json, record_json
from vault.web.context import caller, db, vault
from vault.web.routing import route
from vault.web.ui import charts as charts_


def due_json(d: file_reviews.DueFile) -> dict[str, Any]:
    """A client file on the review list."""
    return {
        "client": client_json(d.client),
        "last_reviewed_at": d.last_reviewed_at.isoformat() if d.last_reviewed_at else None,
        "due_on": d.due_on.isoformat(),
        "days_overdue": d.days_overdue,
    }


@route(
    bp,
    "/reviews/due",
    action=Action.CLIENT_REVIEW_DUE,
    summary="Client files due for review in the caller's tiers (custodians)",
    query=[
        ("within", "integer", "also list files due within this many days"),
        ("limit", "integer", "page size (hard cap)"),
        ("offset", "integer", "skip"),
    ],
)
def reviews_due() -> Response:
    limit, offset = parse.page(vault().config.page_size_max)
    within = parse.integer(request.args.get("within"), "within", required=False, hi=366) or 0
    due = file_reviews.due_for_review(vault(), db(), caller(), within_days=within)
    return jsonify(
        items=[due_json(d) for d in due[offset : offset + limit]],
        total=len(due),
        limit=limit,
        offset=offset,
    )


@route(
    bp,
    "/reviews/stale-reports",
    action=Action.CLIENT_REVIEW_DUE,
    summary="Clients whose newest credit report is past its valid_until (custodians)",
)
def stale_reports() -> Response:
    limit, offset = parse.page(vault().config.page_size_max)
    found = file_reviews.stale_credit_reports(vault(), db(), caller())
    return jsonify(
        items=[record_json(r) for r in found[offset : offset + limit]],
        total=len(found),
        limit=limit,
        offset=offset,
    )


@route(
    bp,
    "/clients/<int:client_id>/review",
    action=Action.CLIENT_REVIEW,
    methods=["POST"],
    summary="Mark a client file reviewed (custodian in scope; audited)",
)
def mark_reviewed(client_id: int) -> tuple[Response, int]:
    done = file_reviews.mark_reviewed(vault(), db(), caller(), client_id)
    return jsonify(
        client_id=done.client_id,
        reviewed_at=done.reviewed_at.isoformat(),
        reviewed_by=done.reviewed_by_id,
    ), 201


@route(
    bp,
    "/stats",
    action=Action.STATS_READ,
    summary="Statistics (auditors and admins)",
    query=[("days", "integer", "window for use, denials and alerts (default 30)")],
)
def get_stats() -> Response:
    days = parse.integer(request.args.get("days"), "days", required=False, lo=1, hi=366) or 30
    return jsonify(statistics.collect(vault(), db(), caller(), days=days).as_json())


@route(
    bp,
    "/stats/charts/<name>.svg",
    action=Action.STATS_READ,
    summary="One statistics chart as SVG (server-rendered, no script)",
    query=[("days", "integer", "window (default 30)")],
)
def stats_chart(name: str) -> Response:
    days = parse.integer(request.args.get("days"), "days", required=False, lo=1, hi=366) or 30
    charts = charts_.charts(statistics.collect(vault(), db(), caller(), days=days))
    if name not in charts:
        raise NotFound("no such chart", code="chart_not_found", charts=",".join(sorted(charts)))
    return Response(charts[name], mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})


# ---- Copies -------------------------------------------------------------------------

_EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


@route(
    bp,
    "/records/<int:record_id>/copy",
    action=Action.RECORD_COPY,
    methods=["POST"],
    summary="A watermarked copy of a record (copy grant or custodian; purpose required)",
    body={"purpose": "string"},
)
def copy_record(record_id: int) -> Response:
    purpose = parse.string(parse.json_body(), "purpose", required=False, max_len=500)
    made = access.copy(vault(), db(), caller(), record_id, purpose)
    ext = _EXTENSIONS.get(made.media_type, "txt")
    headers = dict(NO_STORE)
    headers["Content-Disposition"] = (
        f'attachment; filename="{made.record.file_number}-{made.copy_id}.{ext}"'
    )
    headers["X-Copy-Id"] = made.copy_id
    headers["X-Audit-Event"] = made.event_id
    return Response(made.data, mimetype=made.media_type, headers=headers)


@route(
    bp,
    "/audit/trace-copy",
    action=Action.AUDIT_READ,
    methods=["POST"],
    summary="Name the person, time and grant a watermarked copy was made for (multipart 'file')",
)
def trace_copy() -> Response:
    file = request.files.get("file")
    if file is None:
        raise InvalidInput("send the copy as multipart field 'file'", code="missing_file")
    found = copies.trace_copy(vault(), db(), caller(), file.read())
    return jsonify(trace_json(found))


def trace_json(t: copies.CopyTrace) -> dict[str, Any]:
    """Who a copy was made for, from its audit event."""
    ev = t.event
    return {
        "copy_id": t.copy_id,
        "time": ev.time.isoformat(),
        "event_id": ev.id,
        "person": {"id": t.person.id, "email": t.person.email, "name": t.person.name}
        if t.person
        else None,
        "record": {"id": t.record.id, "file_number": t.record.file_number} if t.record else None,
        "grant_id": ev.grant_id,
        "purpose": ev.purpose,
        "format": ev.details.get("format"),
    }


# ---- Items and lending ---------------------------------------------------------------


def loan_json(loan: Loan) -> dict[str, Any]:
    """A loan as the API shows it (no content)."""
    now = utcnow()
    return {
        "id": loan.id,
        "item_id": loan.item_id,
        "record_id": loan.record_id,
        "borrower_id": loan.borrower_id,
        "lent_by": loan.lent_by_id,
        "grant_id": loan.grant_id,
        "out_at": loan.out_at.isoformat(),
        "due_at": loan.due_at.isoformat(),
        "renewals": loan.renewals,
        "pages_out": loan.pages_out,
        "returned_at": loan.returned_at.isoformat() if loan.returned_at else None,
        "received_by": loan.received_by_id,
        "pages_in": loan.pages_in,
        "condition": loan.condition,
        "pages_mismatch": loan.pages_mismatch,
        "overdue": loan.is_overdue(now),
        "reminders_sent": loan.reminders_sent,
    }


def item_json(item: Item) -> dict[str, Any]:
    """An item's card."""
    return {
        "id": item.id,
        "record_id": item.record_id,
        "kind": item.kind,
        "label": item.label,
        "location": item.location,
        "created_at": item.created_at.isoformat(),
    }


def _borrower(data: dict[str, Any]) -> Person:
    email = parse.string(data, "borrower", max_len=254) or ""
    return directory.get_by_email(db(), email)


@route(
    bp,
    "/records/<int:record_id>/items",
    action=Action.ITEM_CREATE,
    methods=["POST"],
    summary="Register a folder (or medium) holding a record, and its shelf (custodian)",
    body={"kind": "string", "label": "string", "location": "string"},
)
def add_item(record_id: int) -> tuple[Response, int]:
    data = parse.json_body()
    item = loans.add_item(
        vault(),
        db(),
        caller(),
        record_id,
        kind=parse.string(data, "kind", max_len=16) or "",
        label=parse.string(data, "label", max_len=200) or "",
        location=parse.string(data, "location", max_len=200) or "",
    )
    return jsonify(item_json(item)), 201


@route(
    bp,
    "/items/<int:item_id>",
    action=Action.ITEM_READ,
    summary="An item, its loan and where it has been (custodians, auditors, admins)",
)
def get_item(item_id: int) -> Response:
    item = loans.get_item(db(), item_id)
    moves = loans.history(vault(), db(), caller(), item_id)
    loan = loans.open_loan(db(), item_id)
    body = item_json(item)
    body["loan"] = loan_json(loan) if loan else None
    body["history"] = [
        {
            "location": m.location,
            "reason": m.reason,
            "loan_id": m.loan_id,
            "moved_by": m.moved_by_id,
            "moved_at": m.moved_at.isoformat(),
        }
        for m in moves
    ]
    return jsonify(body)


@route(
    bp,
    "/items/<int:item_id>/checkout",
    action=Action.ITEM_CHECKOUT,
    methods=["POST"],
    summary="Check an item out to a borrower (custodian in scope; borrower needs a lend "
    "grant or custody)",
    body={"borrower": "string", "pages": "integer", "days": "integer", "purpose": "string"},
)
def checkout(item_id: int) -> tuple[Response, int]:
    data = parse.json_body()
    loan = loans.checkout(
        vault(),
        db(),
        caller(),
        item_id,
        _borrower(data),
        pages=parse.integer(data.get("pages"), "pages", hi=loans.MAX_PAGES) or 0,
        days=parse.integer(data.get("days"), "days", required=False, hi=3650),
        purpose=parse.string(data, "purpose", required=False, max_len=500),
    )
    return jsonify(loan_json(loan)), 201


@route(
    bp,
    "/items/<int:item_id>/checkin",
    action=Action.ITEM_CHECKIN,
    methods=["POST"],
    summary="Take an item back: condition and page count (mismatch flagged)",
    body={"pages": "integer", "condition": "string", "location": "string"},
)
def checkin(item_id: int) -> Response:
    data = parse.json_body()
    loan = loans.checkin(
        vault(),
        db(),
        caller(),
        item_id,
        pages=parse.integer(data.get("pages"), "pages", hi=loans.MAX_PAGES) or 0,
        condition=parse.string(data, "condition", max_len=16) or "",
        location=parse.string(data, "location", required=False, max_len=200),
    )
    return jsonify(loan_json(loan))


@route(
    bp,
    "/items/<int:item_id>/renew",
    action=Action.ITEM_RENEW,
    methods=["POST"],
    summary="Renew a loan once (refused while someone else waits for the item)",
    body={"days": "integer"},
)
def renew(item_id: int) -> Response:
    data = parse.json_body()
    loan = loans.renew(
        vault(),
        db(),
        caller(),
        item_id,
        days=parse.integer(data.get("days"), "days", required=False, hi=3650),
    )
    return jsonify(loan_json(loan))


@route(
    bp,
    "/loans",
    action=Action.ITEM_READ,
    summary="Loans still out (custodians, auditors)",
    query=[
        ("overdue", "boolean", "only overdue loans"),
        ("limit", "integer", "page size (hard cap)"),
        ("offset", "integer", "skip"),
    ],
)
def list_loans() -> Response:
    limit, offset = parse.page(vault().config.page_size_max)
    overdue = request.args.get("overdue", "") in ("1", "true", "yes")
    found = loans.loans(vault(), db(), caller(), overdue_only=overdue, limit=limit, offset=offset)
    return jsonify(items=[loan_json(x) for x in found], limit=limit, offset=offset)
