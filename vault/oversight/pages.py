"""The metadata-scraping guard: pages of the catalogue and the client list, per person.

The catalogue holds no content, but read page after page it is the archive's whole
index. Each page a person reads is written to the audit log as a small event (the
list's own action, ``record:read`` or ``client:read``, with ``"page"`` in its details),
held back and sent with the request's commit. The events of the last hour and day are
the page quota's windows (``page_quota_hour``, ``page_quota_day``): past either, the
page is refused (``page_quota_exceeded``), the refusal is audited and the auditors get
an alert (one per person per hour). The departure report counts the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session

from audit.schema import audit_events
from vault import auditing, authz
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import Denied
from vault.models import Alert, Person
from vault.oversight import alerts
from vault.policy import Action
from vault.runtime import Vault

# Each list, the act its pages are recorded under, and its name in the reports.
PAGES = {Action.RECORD_READ: "catalogue", Action.CLIENT_READ: "clients"}
ALERT_KIND = "page_quota_exceeded"

_e = audit_events.c
_READ = (
    _e.actor_person_id == bindparam("person_id"),
    _e.time >= bindparam("day_ago"),
    _e.outcome == "ok",
    _e.action.in_(sorted(a.value for a in PAGES)),
)
_WINDOWS = select(
    func.count().label("day"),
    func.count(case((_e.time >= bindparam("hour_ago"), 1))).label("hour"),
).where(*_READ)


@dataclass(frozen=True)
class PageQuota:
    """Pages read in the last hour and day, and the limits."""

    hour: int
    day: int
    hour_limit: int
    day_limit: int

    @property
    def exceeded(self) -> bool:
        """Whether reading one more page would cross a limit."""
        return self.hour >= self.hour_limit or self.day >= self.day_limit


def page_quota(v: Vault, db: Session, person: Person, now: datetime | None = None) -> PageQuota:
    """Where ``person`` stands against the page quota."""
    now = now or utcnow()
    row = (
        db.connection()
        .execute(
            _WINDOWS,
            {
                "person_id": person.id,
                "day_ago": now - timedelta(days=1),
                "hour_ago": now - timedelta(hours=1),
            },
        )
        .one()
    )
    cfg = v.config
    return PageQuota(int(row.hour), int(row.day), cfg.page_quota_hour, cfg.page_quota_day)


def read_page(v: Vault, db: Session, caller: Caller, action: Action, *, offset: int = 0) -> None:
    """Count one page of a list (``action``: its route's act) against the page quota.

    Raises:
        Denied: ``page_quota_exceeded``, carrying its audit event and the alert.
    """
    person = caller.person
    if person is None:
        return  # the operator's CLI reads no pages
    kind = PAGES[action]
    quota = page_quota(v, db, person)
    if quota.exceeded:

        def alert(session: Session) -> None:
            _alert_once(v, session, caller, person, quota, kind)

        raise authz.refuse(
            Denied("too many catalogue pages read in a short time", code=ALERT_KIND, keep=(alert,)),
            v,
            caller,
            action,
            details={"page": kind, "hour": quota.hour, "day": quota.day},
        )
    auditing.record(
        v,
        db,
        caller,
        action,
        outcome="ok",
        reason="page",
        details={"page": kind, "offset": offset},
        deferred=True,
    )


def _alert_once(
    v: Vault, db: Session, caller: Caller, person: Person, quota: PageQuota, kind: str
) -> None:
    """Alert the auditors, unless this person's crossing already did within the hour."""
    recent = db.scalar(
        select(func.count())
        .select_from(Alert)
        .where(
            Alert.kind == ALERT_KIND,
            Alert.person_id == person.id,
            Alert.created_at >= utcnow() - timedelta(hours=1),
        )
    )
    if recent:
        return
    alerts.raise_alert(
        v,
        db,
        caller,
        ALERT_KIND,
        person,
        f"{person.email} read too many list pages ({quota.hour}/{quota.hour_limit} per hour, "
        f"{quota.day}/{quota.day_limit} per day), the last of the {kind}",
        details={"page": kind, "hour": quota.hour, "day": quota.day},
        params={
            "email": person.email,
            "hour": quota.hour,
            "hour_limit": quota.hour_limit,
            "day": quota.day,
            "day_limit": quota.day_limit,
            "page": kind,
        },
    )


def pages_read(db: Session, person_id: int, since: datetime) -> dict[str, int]:
    """How many pages of each list ``person_id`` read since ``since`` (for the report)."""
    rows = db.execute(
        select(_e.action, func.count())
        .where(
            _e.actor_person_id == person_id,
            _e.time >= since,
            _e.outcome == "ok",
            _e.action.in_(sorted(a.value for a in PAGES)),
        )
        .group_by(_e.action)
    ).all()
    counts = {name: 0 for name in PAGES.values()}
    for action, n in rows:
        counts[PAGES[Action(action)]] = int(n)
    return counts
