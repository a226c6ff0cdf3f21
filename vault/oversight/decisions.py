"""Why a decision is what it is: "why can't I" for oneself, "why can they" for others.

The answer is the one :func:`vault.access.explain` gives (the CLI's ``policy explain``):
the decision a real request would get now, from the same facts (tenure against the
tier's minimum, custody, live grants, the export quota). Asking is an act of its own,
``policy:why``, decided in Cedar with ``is_self``: anyone asks about themselves, admins
and auditors about someone else (``forbid-why-others``). Each question is recorded with
its answer (nothing is consulted: explaining is not using), and a refused question is
recorded by the boundary like any refusal.

The record is named only as the catalogue shows it to the asker (its file number, title,
client and tier); a person who may not read the catalogue gets no answer about a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vault import access, auditing, authz
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import InvalidInput, NotFound
from vault.models import Grant, Person, Record
from vault.policy import Action
from vault.policy.actions import GRANT_ACTIONS
from vault.runtime import Vault

# The acts a person asks about: the uses of one record's content.
WHY_ACTIONS = (Action.RECORD_CONSULT, Action.RECORD_COPY, Action.ITEM_BORROW)
# The grant action (what a request asks for) behind each act.
VERB = {act: verb for verb, act in GRANT_ACTIONS.items()}


@dataclass(frozen=True)
class Held:
    """A live grant of the person's that covers the record."""

    grant_id: int
    actions: tuple[str, ...]
    expires_at: datetime


@dataclass(frozen=True)
class Change:
    """What would change the answer (``kind``), with the figure it needs."""

    kind: str
    days: int | None = None
    verb: str | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Answer:
    """A decision explained, with the facts behind it and what would change it."""

    subject: Person
    is_self: bool
    action: Action
    record: Record
    allowed: bool
    reason: str
    policy_ids: tuple[str, ...]
    tier: str
    tenure_days: int
    tenure_minimum_days: int
    custodian_tiers: tuple[str, ...]
    roles: tuple[str, ...]
    grants: tuple[Held, ...]
    quota: access.Quota
    changes: tuple[Change, ...]


def _subject(caller: Caller, about: str | None) -> Person | None:
    """The person asked about if it is the caller (``None``: someone else, or nobody)."""
    me = caller.person
    text = (about or "").strip()
    if me is not None and (not text or text == str(me.id) or text.lower() == me.email.lower()):
        return me
    return None


def _find(db: Session, about: str) -> Person:
    text = about.strip()[:254]
    person = (
        db.get(Person, int(text))
        if text.isdigit()
        else db.scalar(select(Person).where(Person.email == text.lower()))
    )
    if person is None:
        raise NotFound("no such person", code="person_not_found")
    return person


def why(
    v: Vault, db: Session, caller: Caller, action: Action, record_id: int, about: str | None = None
) -> Answer:
    """Why ``about`` (the caller if empty) gets the decision they do for ``action`` on
    ``record_id``; decided, then recorded with its answer in the caller's transaction."""
    if action not in WHY_ACTIONS:
        raise InvalidInput("ask about consulting, copying or borrowing", code="invalid_action")
    me = _subject(caller, about)
    is_self = me is not None
    resource: dict[str, object] = {"record": record_id}
    if me is not None:
        resource["person"] = me.id
    details: dict[str, str | int | bool | None] = {"asked": action.value, "is_self": is_self}
    decision = authz.decide(v, caller, Action.POLICY_WHY, is_self=is_self)
    authz.require(
        v, db, caller, Action.POLICY_WHY, decision=decision, resource=resource, details=details
    )
    # No more of the record than the catalogue shows the asker.
    authz.require(v, db, caller, Action.RECORD_READ, resource={"record": record_id})
    subject = me if me is not None else _find(db, about or "")
    resource["person"] = subject.id
    record = db.get(Record, record_id)
    if record is None:
        raise authz.refuse(
            NotFound("no such record", code="record_not_found"),
            v,
            caller,
            Action.POLICY_WHY,
            resource=resource,
            details=details,
        )
    got = access.explain(v, db, subject, action, record_id)
    facts = got.facts
    quota = access.Quota(
        _int(facts.get("quota_hour")),
        _int(facts.get("quota_day")),
        _int(facts.get("quota_hour_limit")),
        _int(facts.get("quota_day_limit")),
        bool(facts.get("quota_exceeded")),
    )
    held = _grants(db, subject, record)
    tenure = _int(facts.get("tenure_days"))
    minimum = _int(facts.get("tenure_minimum_days"))
    tiers = _strings(facts.get("custodian_tiers"))
    tier = str(facts.get("tier") or record.client.tier)
    answer = Answer(
        subject=subject,
        is_self=is_self,
        action=action,
        record=record,
        allowed=got.allowed,
        reason=got.reason,
        policy_ids=tuple(got.policy_ids),
        tier=tier,
        tenure_days=tenure,
        tenure_minimum_days=minimum,
        custodian_tiers=tiers,
        roles=_strings(facts.get("roles")),
        grants=held,
        quota=quota,
        changes=_changes(
            got.allowed, got.reason, action, tier, tiers, tenure, minimum, quota, held
        ),
    )
    auditing.record(
        v,
        db,
        caller,
        Action.POLICY_WHY,
        decision=decision,
        resource=resource,
        details={**details, "answer": "allow" if got.allowed else "deny", "because": got.reason},
    )
    return answer


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _strings(value: object) -> tuple[str, ...]:
    return tuple(sorted(str(x) for x in value)) if isinstance(value, list | tuple | set) else ()


def _grants(db: Session, person: Person, record: Record) -> tuple[Held, ...]:
    """The person's live grants covering ``record`` (theirs: the asker sees no one else's
    unless they may ask about that person)."""
    now = utcnow()
    rows = db.scalars(
        select(Grant)
        .where(
            Grant.person_id == person.id,
            Grant.client_id == record.client_id,
            or_(Grant.record_id.is_(None), Grant.record_id == record.id),
            Grant.revoked_at.is_(None),
            Grant.starts_at <= now,
            Grant.expires_at > now,
        )
        .order_by(Grant.id)
    )
    return tuple(Held(g.id, tuple(sorted(g.action_list)), g.expires_at) for g in rows)


def _changes(
    allowed: bool,
    reason: str,
    action: Action,
    tier: str,
    tiers: tuple[str, ...],
    tenure: int,
    minimum: int,
    quota: access.Quota,
    held: tuple[Held, ...],
) -> tuple[Change, ...]:
    """What would turn the answer around, from the reason and the facts."""
    verb = VERB.get(action)
    if allowed:
        if reason == "grant":
            ends = [h.expires_at for h in held if verb in h.actions]
            return (Change(kind="grant_ends", until=min(ends) if ends else None),)
        return (Change(kind="custody_holds"),)
    if reason in ("person_disabled", "person_departing"):
        return (Change(kind="nothing_leaving"),)
    if reason == "auditor_no_content":
        return (Change(kind="nothing_auditor"),)
    if reason == "under_review":
        return (Change(kind="auditor_clears"),)
    if reason == "export_quota_exceeded":
        out = []
        if quota.hour >= quota.hour_limit:
            out.append(Change(kind="wait_quota_hour"))
        if quota.day >= quota.day_limit:
            out.append(Change(kind="wait_quota_day"))
        return (*out, Change(kind="auditor_clears"))
    if reason == "tenure_too_short" or (tier in tiers and tenure < minimum):
        return (
            Change(kind="wait_tenure", days=minimum - tenure),
            Change(kind="ask_grant", verb=verb),
        )
    if reason in ("no_grant", "tier_out_of_scope", "not_custodian") or reason.startswith(
        "grant_does_not_cover_"
    ):
        return (Change(kind="ask_grant", verb=verb),)
    return (Change(kind="ask_admin"),)
