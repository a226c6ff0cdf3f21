"""Appraisal (鉴定) in the API: four-properties check reports, the loan and use registers,
a client's dossier and the portfolio. Metadata and codes only; the services audit."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import Field

from vault.appraisal import checks, dossier, plain, portfolio, registers
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Day, Query, Reply, Timestamp
from vault.web.context import caller, db, vault
from vault.web.routing import route


class CheckRunReply(Reply):
    """One run of the four-properties check and what it found (codes and ids only)."""

    run: int
    trigger: str
    scope: str
    started_at: Timestamp | None
    finished_at: Timestamp | None
    records: int
    attachments: int
    failures: int
    figures: dict[str, int]
    findings: list[dict[str, Any]]


class CheckRuns(Reply):
    """The latest runs, newest first."""

    items: list[dict[str, Any]]


@route(
    bp,
    "/checks",
    action=Action.CHECK_READ,
    summary="Four-properties check runs",
    responses={200: CheckRuns},
)
def list_checks() -> CheckRuns:
    return CheckRuns(
        items=[
            {
                "run": r.id,
                "trigger": r.trigger,
                "scope": r.scope,
                "started_at": r.started_at.isoformat(),
                "records": r.records,
                "failures": r.failures,
                "figures": r.figures,
            }
            for r in checks.runs(vault(), db(), caller())
        ]
    )


@route(
    bp,
    "/checks/<int:run_id>",
    action=Action.CHECK_READ,
    summary="One four-properties check report",
    responses={200: CheckRunReply},
)
def get_check(run_id: int) -> CheckRunReply:
    return CheckRunReply.model_validate(checks.report(vault(), db(), caller(), run_id).as_json())


class PeriodQuery(Query):
    """The period (UTC days; the last 30 by default)."""

    from_: Day | None = Field(None, alias="from", description="first day")
    to: Day | None = Field(None, description="last day")


class Register(Reply):
    """A register's lines for a period."""

    kind: str
    start: str
    end: str
    items: list[dict[str, Any]]


def _register(kind: str, query: PeriodQuery) -> Register:
    period = registers.Period.of(query.from_, query.to)
    read = registers.loan_register if kind == "loans" else registers.use_register
    rows = read(vault(), db(), caller(), period, fmt="json")
    return Register(
        kind=kind,
        start=period.start.isoformat(),
        end=period.end.isoformat(),
        items=[plain(asdict(r)) for r in rows],
    )


@route(
    bp,
    "/registers/loans",
    action=Action.REGISTER_READ,
    summary="The loan register (借阅登记) for a period",
    query=PeriodQuery,
    responses={200: Register},
)
def loan_register(query: PeriodQuery) -> Register:
    return _register("loans", query)


@route(
    bp,
    "/registers/uses",
    action=Action.REGISTER_READ,
    summary="The use register (利用登记): consultations and copies in a period",
    query=PeriodQuery,
    responses={200: Register},
)
def use_register(query: PeriodQuery) -> Register:
    return _register("uses", query)


class DossierReply(Reply):
    """A client's dossier (编研), catalogue data only."""

    client: dict[str, Any]
    compiled_at: Timestamp
    event_id: str
    catalogue: list[dict[str, Any]]
    credit: list[dict[str, Any]]
    loans: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    risks: list[str]
    review_due_on: str | None


@route(
    bp,
    "/clients/<int:client_id>/dossier",
    action=Action.CLIENT_DOSSIER,
    summary="A client's dossier: catalogue, credit timeline, loans, reviews, risk notes",
    responses={200: DossierReply},
)
def get_dossier(client_id: int) -> DossierReply:
    d = dossier.compile_dossier(vault(), db(), caller(), client_id, fmt="json")
    c = d.client
    return DossierReply(
        client={
            "id": c.id,
            "code": c.code,
            "name": c.name,
            "tier": c.tier,
            "kind": c.kind,
            "relationship": c.relationship,
        },
        compiled_at=d.compiled_at.isoformat(),
        event_id=d.event_id,
        catalogue=[
            {"section": s, "year": y, "records": plain([asdict(e) for e in entries])}
            for (s, y), entries in d.catalogue.items()
        ],
        credit=plain([asdict(s) for s in d.credit]),
        loans=plain([asdict(ln) for ln in d.loans]),
        reviews=plain([asdict(r) for r in d.reviews]),
        risks=list(d.risks),
        review_due_on=d.review_due_on.isoformat() if d.review_due_on else None,
    )


class PortfolioReply(Reply):
    """Both ends (core, high-risk) and the size of the middle."""

    as_of: Timestamp
    tiers: list[str]
    core: list[dict[str, Any]]
    high_risk: list[dict[str, Any]]
    middle: int
    by_risk: dict[str, int]


def _signs(s: portfolio.ClientSigns) -> dict[str, Any]:
    return {
        "client": s.client.code,
        "client_id": s.client.id,
        "tier": s.client.tier,
        "records": s.records,
        "risks": list(s.risks),
        "credit_until": s.credit_until.isoformat() if s.credit_until else None,
        "review_due_on": s.review_due_on.isoformat(),
    }


@route(
    bp,
    "/portfolio",
    action=Action.PORTFOLIO_READ,
    summary="The portfolio of client files: core and high-risk clients (抓两头、放中间)",
    responses={200: PortfolioReply},
)
def get_portfolio() -> PortfolioReply:
    p = portfolio.portfolio(vault(), db(), caller())
    return PortfolioReply(
        as_of=p.as_of.isoformat(),
        tiers=p.tiers,
        core=[_signs(s) for s in p.core],
        high_risk=[_signs(s) for s in p.high_risk],
        middle=p.middle,
        by_risk=p.by_risk,
    )
