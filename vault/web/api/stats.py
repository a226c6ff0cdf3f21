"""Statistics (auditors and admins): the numbers, and each chart as SVG."""

from __future__ import annotations

from typing import Any

from flask import Response
from pydantic import Field

from vault.errors import NotFound
from vault.oversight import statistics
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Query, Reply, Timestamp
from vault.web.context import caller, db, vault
from vault.web.routing import Binary, route
from vault.web.ui import charts as charts_


class StatsQuery(Query):
    """The window."""

    days: int = Field(30, ge=1, le=366, description="window for use, denials and alerts")


class Holdings(Reply):
    """Records held, by tier, section and year."""

    by_tier: dict[str, dict[str, int]]
    by_section: dict[str, int]
    by_year: dict[str, int]


class LoanCounts(Reply):
    """Loans out and overdue."""

    out: int
    overdue: int


class Stats(Reply):
    """The vault's statistics over a window of days."""

    as_of: Timestamp
    days: int
    holdings: Holdings
    loans: LoanCounts
    requests_by_status: dict[str, int]
    consultations_per_day: dict[str, int]
    top_readers: list[dict[str, Any]]
    copies: int
    denials_by_action: dict[str, int]
    alerts: dict[str, dict[str, int]]
    stale_credit_reports: int


@route(
    bp,
    "/stats",
    action=Action.STATS_READ,
    summary="Statistics (auditors and admins)",
    query=StatsQuery,
    responses={200: Stats},
)
def get_stats(query: StatsQuery) -> Stats:
    return Stats.model_validate(
        statistics.collect(vault(), db(), caller(), days=query.days).as_json()
    )


@route(
    bp,
    "/stats/charts/<name>.svg",
    action=Action.STATS_READ,
    summary="One statistics chart as SVG (server-rendered, no script)",
    query=StatsQuery,
    responses={200: Binary(("image/svg+xml",), "The chart")},
)
def stats_chart(name: str, query: StatsQuery) -> Response:
    charts = charts_.charts(statistics.collect(vault(), db(), caller(), days=query.days))
    if name not in charts:
        raise NotFound("no such chart", code="chart_not_found", charts=",".join(sorted(charts)))
    return Response(charts[name], mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})
