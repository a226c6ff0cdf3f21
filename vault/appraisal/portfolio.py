"""The portfolio of client files (抓两头、放中间: watch both ends, let the middle run).

One end is the core clients, watched whatever they do; the other is the clients that
show a sign of risk: a lapsed credit report (or none at all for an active client), a
review overdue, many returns, a loan overdue, faults found by the four-properties check,
or a relationship that has ended while its records are still open. The middle is
counted, not listed. Everything is catalogue metadata, counted in SQL; nothing is
decrypted. Auditors see every tier; a custodian the tiers the policy lets them review."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault import auditing, authz
from vault.archive import file_reviews
from vault.caller import Caller
from vault.db import utcnow
from vault.models import CheckFinding, Client, Loan, Record, Relationship, Section, Tier
from vault.policy import Action
from vault.runtime import Vault

MANY_RETURNS = 3  # records in the returns section (退货) that make a client a risk
RISKS = (
    "credit_lapsed",
    "no_credit_report",
    "review_overdue",
    "many_returns",
    "loan_overdue",
    "check_faults",
    "ended_with_open_records",
)


@dataclass(frozen=True)
class ClientSigns:
    """A client and the signs of risk it shows (codes of :data:`RISKS`)."""

    client: Client
    records: int
    risks: tuple[str, ...]
    credit_until: date | None
    review_due_on: date


@dataclass
class Portfolio:
    """Both ends and the size of the middle, with counts for the charts."""

    as_of: datetime
    tiers: list[str]
    core: list[ClientSigns] = field(default_factory=list)
    high_risk: list[ClientSigns] = field(default_factory=list)
    middle: int = 0
    by_risk: dict[str, int] = field(default_factory=dict)
    by_tier: dict[str, dict[str, int]] = field(default_factory=dict)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def signs(
    v: Vault, db: Session, clients: list[Client], *, today: date | None = None
) -> dict[int, ClientSigns]:
    """The signs of risk of each client (a few grouped statements, whatever their number).

    Disposed records are out of every count: what was lawfully destroyed is neither an
    open record of a former client, nor a return, nor a credit report in force."""
    today = today or date.today()
    ids = [c.id for c in clients]
    if not ids:
        return {}
    kept = Record.disposed_at.is_(None)
    counts = dict(
        db.execute(
            select(Record.client_id, func.count())
            .where(Record.client_id.in_(ids), kept)
            .group_by(Record.client_id)
        ).all()
    )
    returns = dict(
        db.execute(
            select(Record.client_id, func.count())
            .where(Record.client_id.in_(ids), kept, Record.section == int(Section.RETURNS))
            .group_by(Record.client_id)
        ).all()
    )
    credit = dict(
        db.execute(
            select(Record.client_id, func.max(Record.valid_until))
            .where(
                Record.client_id.in_(ids),
                kept,
                Record.section == int(Section.CREDIT),
                Record.valid_until.is_not(None),
            )
            .group_by(Record.client_id)
        ).all()
    )
    now = utcnow()
    overdue = set(
        db.scalars(
            select(Record.client_id)
            .join(Loan, Loan.record_id == Record.id)
            .where(Record.client_id.in_(ids), Loan.returned_at.is_(None), Loan.due_at <= now)
        )
    )
    open_loans = set(
        db.scalars(
            select(Record.client_id)
            .join(Loan, Loan.record_id == Record.id)
            .where(Record.client_id.in_(ids), Loan.returned_at.is_(None))
        )
    )
    faults = set(
        db.scalars(
            select(CheckFinding.client_id).where(
                CheckFinding.client_id.in_(ids), CheckFinding.resolved_by_run_id.is_(None)
            )
        )
    )
    reviewed = file_reviews.last_reviews(db, ids)
    out: dict[int, ClientSigns] = {}
    for c in clients:
        risks: list[str] = []
        until = credit.get(c.id)
        if until is not None and until < today:
            risks.append("credit_lapsed")
        if until is None and c.relationship == Relationship.ACTIVE:
            risks.append("no_credit_report")
        since = reviewed.get(c.id) or _aware(c.created_at)
        due_on = since.date() + timedelta(days=v.config.review_days.get(c.tier, 60))
        if due_on < today:
            risks.append("review_overdue")
        if returns.get(c.id, 0) >= MANY_RETURNS:
            risks.append("many_returns")
        if c.id in overdue:
            risks.append("loan_overdue")
        if c.id in faults:
            risks.append("check_faults")
        if c.relationship == Relationship.FORMER and (counts.get(c.id, 0) or c.id in open_loans):
            risks.append("ended_with_open_records")
        out[c.id] = ClientSigns(c, counts.get(c.id, 0), tuple(risks), until, due_on)
    return out


def _tiers(v: Vault, caller: Caller, today: date) -> list[str]:
    principal = caller.principal(today)
    if caller.person_id is None or "auditor" in principal.roles:
        return [t.value for t in Tier]
    return file_reviews.tiers_in_scope(v, caller, today)


def portfolio(v: Vault, db: Session, caller: Caller, *, today: date | None = None) -> Portfolio:
    """The portfolio the caller may see (auditors every tier, custodians theirs); audited."""
    authz.require(v, db, caller, Action.PORTFOLIO_READ)
    today = today or date.today()
    tiers = _tiers(v, caller, today)
    clients = list(db.scalars(select(Client).where(Client.tier.in_(tiers)).order_by(Client.code)))
    found = signs(v, db, clients, today=today)
    view = Portfolio(as_of=utcnow(), tiers=tiers)
    risk_counts: Counter[str] = Counter()
    for c in clients:
        s = found[c.id]
        risk_counts.update(s.risks)
        tier_counts = view.by_tier.setdefault(c.tier, {"core": 0, "high_risk": 0, "middle": 0})
        if c.tier == Tier.CORE:
            view.core.append(s)
            tier_counts["core"] += 1
        if s.risks:
            view.high_risk.append(s)
            if c.tier != Tier.CORE:
                tier_counts["high_risk"] += 1
        elif c.tier != Tier.CORE:
            view.middle += 1
            tier_counts["middle"] += 1
    view.high_risk.sort(key=lambda s: (-len(s.risks), s.client.code))
    view.by_risk = {r: risk_counts.get(r, 0) for r in RISKS}
    auditing.record(
        v,
        db,
        caller,
        Action.PORTFOLIO_READ,
        outcome="ok",
        details={
            "tiers": ",".join(tiers),
            "core": len(view.core),
            "high_risk": len(view.high_risk),
            "middle": view.middle,
        },
    )
    return view
