"""The site policy: Cedar rules a company adds to the shipped ones, kept in the database.

A site policy can take access away (a ``forbid``) as easily as give it (a ``permit``),
so loading, replacing or removing one is an act of the two-person rule: one admin
proposes the text with a reason, a second admin approves (``vault.proposals``), and
only then is it stored here and taken up, in this process at once and in every other
within ``policy_refresh_s`` (``Vault.reload_policy``). The text is validated against
the schema, together with the shipped policies, when it is proposed and again when it
is approved; the old versions stay in the table, replaced.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vault import auditing, proposals
from vault.authz import Details
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import InvalidInput
from vault.models import Person, Proposal, SitePolicy
from vault.policy import Action, PolicyError, validate
from vault.proposals import Payload
from vault.runtime import Vault, after_commit

MAX_POLICY_CHARS = 200_000


def check(text: str) -> str:
    """The policy text, checked: it parses, validates with the shipped policies, has ids."""
    if len(text) > MAX_POLICY_CHARS:
        raise InvalidInput("the site policy is too long", code="policy_too_long")
    if not text.strip():
        return ""
    base = resources.files("vault.policy").joinpath("vault.cedar").read_text(encoding="utf-8")
    try:
        validate(base + "\n" + text)
    except PolicyError as exc:
        raise InvalidInput(f"the site policy is invalid: {exc}", code="invalid_policy") from None
    return text


def digest(text: str) -> str:
    """The SHA-256 a proposal and the audit log name the text by."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def current(db: Session) -> SitePolicy | None:
    """The site policy in force, if any was ever loaded."""
    return db.scalar(
        select(SitePolicy)
        .where(SitePolicy.replaced_at.is_(None))
        .order_by(SitePolicy.id.desc())
        .limit(1)
    )


def load(v: Vault, db: Session, text: str, *, proposed_by: int, approved_by: int) -> SitePolicy:
    """Store ``text`` as the site policy in force (the approval of a proposal does this)."""
    text = check(text)
    db.execute(
        update(SitePolicy).where(SitePolicy.replaced_at.is_(None)).values(replaced_at=utcnow())
    )
    row = SitePolicy(
        text=text, sha256=digest(text), proposed_by_id=proposed_by, approved_by_id=approved_by
    )
    db.add(row)
    db.flush()
    after_commit(db, lambda: _take_up(v))
    return row


def _validate(v: Vault, db: Session, subject: Person | None, payload: Payload) -> Payload:
    text = payload.get("text")
    if not isinstance(text, str):
        raise InvalidInput("give the site policy's text", code="missing_text")
    text = check(text)
    return {"text": text, "sha256": digest(text)}


def _apply(
    v: Vault,
    db: Session,
    caller: Caller,
    proposal: Proposal,
    subject: Person | None,
    payload: Payload,
) -> Details:
    assert proposal.proposed_by_id is not None and caller.person_id is not None
    row = load(
        v, db, payload["text"], proposed_by=proposal.proposed_by_id, approved_by=caller.person_id
    )
    auditing.record(
        v,
        db,
        caller,
        Action.POLICY_LOAD,
        resource={"site_policy": row.id},
        details={"sha256": row.sha256, **proposals.outcome_details(proposal, caller)},
    )
    return {"site_policy": row.id}


def describe(payload: Payload) -> str:
    """One line for lists: which text (by its hash), or that the site policy goes."""
    if not payload.get("text"):
        return "remove the site policy"
    lines = str(payload["text"]).count("\n") + 1
    return f"site policy sha256 {str(payload.get('sha256', ''))[:16]}, {lines} lines"


KIND = proposals.register(
    proposals.Kind(
        name="site_policy",
        action=Action.POLICY_LOAD,
        validate=_validate,
        apply=_apply,
        describe=describe,
        needs_subject=False,
    )
)


def _take_up(v: Vault) -> None:
    """Load the approved policy in this process now; on failure the periodic check will."""
    try:
        v.reload_policy()
    except Exception:  # noqa: BLE001 - the approval has committed; the refresh retries
        structlog.get_logger("vault").exception("taking up the approved site policy failed")
