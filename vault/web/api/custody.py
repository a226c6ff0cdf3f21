"""API for custody work: reviews of client files and statistics (lending and copies below)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from vault import review, stats, stats_charts
from vault.errors import NotFound
from vault.policy import Action
from vault.web.api import parse
from vault.web.api.blueprint import bp
from vault.web.api.views import client_json, record_json
from vault.web.context import caller, db, vault
from vault.web.routing import route


def due_json(d: review.DueFile) -> dict[str, Any]:
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
    due = review.due_for_review(vault(), db(), caller(), within_days=within)
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
    found = review.stale_credit_reports(vault(), db(), caller())
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
    done = review.mark_reviewed(vault(), db(), caller(), client_id)
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
    return jsonify(stats.collect(vault(), db(), caller(), days=days).as_json())


@route(
    bp,
    "/stats/charts/<name>.svg",
    action=Action.STATS_READ,
    summary="One statistics chart as SVG (server-rendered, no script)",
    query=[("days", "integer", "window (default 30)")],
)
def stats_chart(name: str) -> Response:
    days = parse.integer(request.args.get("days"), "days", required=False, lo=1, hi=366) or 30
    charts = stats_charts.charts(stats.collect(vault(), db(), caller(), days=days))
    if name not in charts:
        raise NotFound("no such chart", code="chart_not_found", charts=",".join(sorted(charts)))
    return Response(charts[name], mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})
