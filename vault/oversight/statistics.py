"""Statistics (统计): holdings, loans, requests, use, denials and alerts, stale credit reports.

Everything is counted in SQL from catalogue tables and the audit log's indexed
columns (action, actor, decision, time); nothing is decrypted and no event body
is read. For auditors and admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, select
from sqlalchemy.orm import Session

from audit import audit_events
from vault.archive.file_reviews import stale_reports_query
from vault.authz import require
from vault.caller import Caller
from vault.db import utcnow
from vault.models import AccessRequest, Alert, Client, Loan, Person, Record, RequestStatus, Section
from vault.policy import Action
from vault.runtime import Vault

TOP_READERS = 10


_ev = audit_events.c


@dataclass(frozen=True)
class Stats:
    """The figures behind ``/stats``, the CLI report and the charts."""

    as_of: datetime
    days: int
    holdings_by_tier: dict[str, dict[str, int]]
    holdings_by_section: dict[str, int]
    holdings_by_year: dict[int, int]
    loans_out: int
    loans_overdue: int
    requests_by_status: dict[str, int]
    consultations_per_day: dict[str, int]
    top_readers: list[dict[str, Any]]
    copies: int
    denials_by_action: dict[str, int]
    alerts_by_kind: dict[str, dict[str, int]]
    stale_credit_reports: int

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form (keys as strings)."""
        return {
            "as_of": self.as_of.isoformat(),
            "days": self.days,
            "holdings": {
                "by_tier": self.holdings_by_tier,
                "by_section": self.holdings_by_section,
                "by_year": {str(y): n for y, n in self.holdings_by_year.items()},
            },
            "loans": {"out": self.loans_out, "overdue": self.loans_overdue},
            "requests_by_status": self.requests_by_status,
            "consultations_per_day": self.consultations_per_day,
            "top_readers": self.top_readers,
            "copies": self.copies,
            "denials_by_action": self.denials_by_action,
            "alerts": self.alerts_by_kind,
            "stale_credit_reports": self.stale_credit_reports,
        }


def _day(db: Session) -> Any:
    """The UTC calendar day of an audit event's time, on either database."""
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", _ev.time), Date)
    return func.date(_ev.time)  # SQLite keeps UTC wall-clock text


def collect(
    v: Vault, db: Session, caller: Caller, *, days: int = 30, now: datetime | None = None
) -> Stats:
    """Compute the statistics over the last ``days`` days (holdings and loans: as of now)."""
    require(v, db, caller, Action.STATS_READ)
    now = now or utcnow()
    since = now - timedelta(days=days)

    by_tier: dict[str, dict[str, int]] = {
        t: {"clients": 0, "records": 0} for t in ("core", "special", "general")
    }
    for tier, n in db.execute(select(Client.tier, func.count()).group_by(Client.tier)):
        by_tier.setdefault(tier, {"clients": 0, "records": 0})["clients"] = n
    for tier, n in db.execute(
        select(Client.tier, func.count(Record.id))
        .join(Record, Record.client_id == Client.id)
        .group_by(Client.tier)
    ):
        by_tier[tier]["records"] = n
    by_section = {s.name.lower(): 0 for s in Section}
    for section, n in db.execute(select(Record.section, func.count()).group_by(Record.section)):
        by_section[Section(section).name.lower()] = n
    by_year = {
        year: n
        for year, n in db.execute(
            select(Record.year, func.count()).group_by(Record.year).order_by(Record.year)
        )
    }

    open_loans = Loan.returned_at.is_(None)
    loans_out = db.scalar(select(func.count()).select_from(Loan).where(open_loans)) or 0
    overdue = (
        db.scalar(select(func.count()).select_from(Loan).where(open_loans, Loan.due_at <= now)) or 0
    )

    requests = {s.value: 0 for s in RequestStatus}
    lapsed = (AccessRequest.status == RequestStatus.PENDING.value) & (
        AccessRequest.expires_at <= now
    )
    for status, is_lapsed, n in db.execute(
        select(AccessRequest.status, lapsed, func.count()).group_by(AccessRequest.status, lapsed)
    ):
        key = RequestStatus.EXPIRED.value if is_lapsed else status
        requests[key] = requests.get(key, 0) + n

    day = _day(db).label("day")
    consulted = (_ev.action == Action.RECORD_CONSULT.value) & (_ev.decision == "allow")
    per_day = {
        str(d): n
        for d, n in db.execute(
            select(day, func.count())
            .where(consulted, _ev.time >= since)
            .group_by(day)
            .order_by(day)
        )
    }
    readers = db.execute(
        select(_ev.actor_person_id, func.count().label("n"))
        .where(consulted, _ev.time >= since, _ev.actor_person_id.is_not(None))
        .group_by(_ev.actor_person_id)
        .order_by(func.count().desc(), _ev.actor_person_id)
        .limit(TOP_READERS)
    ).all()
    names = {
        p.id: p for p in db.scalars(select(Person).where(Person.id.in_([r[0] for r in readers])))
    }
    top = [
        {"person_id": pid, "email": names[pid].email, "name": names[pid].name, "consultations": n}
        for pid, n in readers
        if pid in names
    ]
    copies = (
        db.scalar(
            select(func.count())
            .select_from(audit_events)
            .where(
                _ev.action == Action.RECORD_COPY.value, _ev.decision == "allow", _ev.time >= since
            )
        )
        or 0
    )
    denials = {
        a: n
        for a, n in db.execute(
            select(_ev.action, func.count())
            .where(_ev.decision == "deny", _ev.time >= since)
            .group_by(_ev.action)
            .order_by(_ev.action)
        )
    }
    alerts: dict[str, dict[str, int]] = {}
    for kind, cleared, n in db.execute(
        select(Alert.kind, Alert.cleared_at.is_not(None), func.count())
        .where(Alert.created_at >= since)
        .group_by(Alert.kind, Alert.cleared_at.is_not(None))
    ):
        entry = alerts.setdefault(kind, {"open": 0, "cleared": 0})
        entry["cleared" if cleared else "open"] += n
    stale = len(stale_reports_query(db, now.date(), sorted(by_tier)))
    return Stats(
        as_of=now,
        days=days,
        holdings_by_tier=by_tier,
        holdings_by_section=by_section,
        holdings_by_year=by_year,
        loans_out=loans_out,
        loans_overdue=overdue,
        requests_by_status=requests,
        consultations_per_day=per_day,
        top_readers=top,
        copies=copies,
        denials_by_action=denials,
        alerts_by_kind=alerts,
        stale_credit_reports=stale,
    )
