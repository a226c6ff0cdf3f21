"""Dynamic management (动态管理): client files reviewed on a cycle per tier, stale credit reports.

Each tier has a review cycle (``Config.review_days``; defaults core 60 days, special
90, general 180). A file is due when its last review (or, never reviewed, its
opening) is older than the cycle. A credit report is stale once its ``valid_until``
has passed; a client whose newest credit report is stale must be re-surveyed.
Custodians see these lists for the tiers they may look after; marking a file
reviewed is a custody act, decided by the policy and audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault import authz
from vault.archive.records import get_client
from vault.caller import Caller
from vault.db import utcnow
from vault.models import Client, ClientReview, Record, Section
from vault.policy import Action, Target
from vault.runtime import Vault


def tiers_in_scope(v: Vault, caller: Caller, today: date) -> list[str]:
    """The tiers whose files the policy lets ``caller`` review (designation, tenure, hard
    lines: whatever the policy, site rules included, says)."""
    who = caller.principal(today)
    return sorted(
        tier
        for tier in who.custodian_tiers
        if v.policy.decide(
            who,
            Action.CLIENT_REVIEW,
            Target(record_id=None, client_id=0, tier=tier),
            is_requester=False,
            today=today,
        )
    )


def _scope(v: Vault, caller: Caller, today: date) -> list[str]:
    if caller.person_id is None:
        return sorted(v.config.review_days)  # the local operator's report covers every tier
    return tiers_in_scope(v, caller, today)


@dataclass(frozen=True)
class DueFile:
    """A client file and where it stands in its review cycle."""

    client: Client
    last_reviewed_at: datetime | None
    due_on: date
    days_overdue: int  # negative: due in that many days


def last_reviews(db: Session, client_ids: list[int]) -> dict[int, datetime]:
    """The latest review time of each client that has one."""
    if not client_ids:
        return {}
    rows = db.execute(
        select(ClientReview.client_id, func.max(ClientReview.reviewed_at))
        .where(ClientReview.client_id.in_(client_ids))
        .group_by(ClientReview.client_id)
    ).all()
    return {cid: _aware(at) for cid, at in rows if at is not None}


def _aware(value: datetime) -> datetime:
    # func.max() bypasses the column type on SQLite: the value comes back naive (UTC).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def due_for_review(
    v: Vault, db: Session, caller: Caller, *, within_days: int = 0, today: date | None = None
) -> list[DueFile]:
    """Client files in the caller's scope due for review now (or within ``within_days``)."""
    authz.require(v, db, caller, Action.CLIENT_REVIEW_DUE)
    today = today or date.today()
    tiers = _scope(v, caller, today)
    clients = list(db.scalars(select(Client).where(Client.tier.in_(tiers)).order_by(Client.code)))
    last = last_reviews(db, [c.id for c in clients])
    horizon = today + timedelta(days=within_days)
    out = []
    for client in clients:
        since = last.get(client.id) or client.created_at
        due_on = since.date() + timedelta(days=v.config.review_days.get(client.tier, 60))
        if due_on <= horizon:
            out.append(DueFile(client, last.get(client.id), due_on, (today - due_on).days))
    out.sort(key=lambda d: (d.due_on, d.client.code))
    return out


def stale_credit_reports(
    v: Vault, db: Session, caller: Caller, *, today: date | None = None
) -> list[Record]:
    """Each in-scope client's newest credit report, where that report is past ``valid_until``."""
    authz.require(v, db, caller, Action.CLIENT_REVIEW_DUE)
    today = today or date.today()
    return stale_reports_query(db, today, _scope(v, caller, today))


def stale_reports_query(db: Session, today: date, tiers: list[str]) -> list[Record]:
    """Newest credit report per client, when it has expired (no policy check: callers do)."""
    newest = (
        select(Record.client_id, func.max(Record.valid_until).label("until"))
        .where(Record.section == int(Section.CREDIT), Record.valid_until.is_not(None))
        .group_by(Record.client_id)
        .subquery()
    )
    stmt = (
        select(Record)
        .join(
            newest,
            (Record.client_id == newest.c.client_id) & (Record.valid_until == newest.c.until),
        )
        .join(Client, Client.id == Record.client_id)
        .where(
            Record.section == int(Section.CREDIT), newest.c.until < today, Client.tier.in_(tiers)
        )
        .order_by(Record.valid_until, Record.id)
    )
    seen: set[int] = set()
    out = []
    for record in db.scalars(stmt):
        if record.client_id not in seen:  # two reports expiring the same day: show one
            seen.add(record.client_id)
            out.append(record)
    return out


def mark_reviewed(v: Vault, db: Session, caller: Caller, client_id: int) -> ClientReview:
    """Record that a custodian in scope reviewed a client's file (audited, allowed or not)."""
    client = get_client(db, client_id)
    authz.require(
        v,
        db,
        caller,
        Action.CLIENT_REVIEW,
        Target(record_id=None, client_id=client.id, tier=client.tier),
        is_requester=False,
        resource={"client": client.id},
        audited=True,
    )
    review = ClientReview(
        client_id=client.id, reviewed_by_id=caller.person_id, reviewed_at=utcnow()
    )
    db.add(review)
    return review
