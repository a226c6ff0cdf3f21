"""Proposals under the two-person rule: ``proposals list|show|approve|reject|withdraw``.

Deciding names the admin acting (``--by``): the operator alone neither proposes nor
approves, and the policy refuses the proposer and the person the act is about.
"""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy.orm import Session

from vault import proposals
from vault.appraisal import holds, retention  # noqa: F401 - register their kinds of proposal
from vault.cli.common import Group, _as, friendly, opened
from vault.db import utcnow
from vault.governance import site_policy  # noqa: F401 - registers its kind of proposal
from vault.keys import audit_rotation, retirement  # noqa: F401 - register their kinds
from vault.models import Person, Proposal


@click.group("proposals", cls=Group)
def proposals_() -> None:
    """Acts waiting for a second admin (designations, hire dates, roles, leaving dates)."""


def _email(db: Session, person_id: int | None) -> str | None:
    person = db.get(Person, person_id) if person_id is not None else None
    return person.email if person is not None else None


def _row(db: Session, p: Proposal) -> dict[str, Any]:
    return {
        "id": p.id,
        "kind": p.kind,
        "status": p.shown_status(utcnow()),
        "subject": _email(db, p.subject_id),
        "what": proposals.describe(p),
        "reason": p.reason,
        "proposed_by": _email(db, p.proposed_by_id) or "operator",
        "created_at": p.created_at.isoformat(),
        "expires_at": p.expires_at.isoformat(),
        "decided_by": _email(db, p.decided_by_id),
        "decided_at": p.decided_at.isoformat() if p.decided_at else None,
        "note": p.decision_note or None,
    }


@proposals_.command("list")
@click.option("--all", "everything", is_flag=True, help="decided ones too (newest first)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@friendly
def proposals_list(everything: bool, as_json: bool) -> None:
    """Proposals waiting for a second admin (or all of them with --all)."""
    with opened() as (_v, db):
        found = proposals.listing(db) if everything else proposals.pending(db)
        rows = [_row(db, p) for p in found]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        click.echo(
            f"#{r['id']:<4} {r['status']:<9} {r['kind']:<18} {r['subject'] or '-':<26} "
            f"{r['what'][:34]:<34} by {r['proposed_by']}, expires {r['expires_at'][:16]}"
        )
    click.echo(f"{len(rows)} proposal(s)")


@proposals_.command("show")
@click.argument("proposal_id", type=int)
@friendly
def proposals_show(proposal_id: int) -> None:
    """One proposal: what, about whom, why, who proposed it and where it stands."""
    with opened() as (_v, db):
        row = _row(db, proposals.get(db, proposal_id))
    click.echo(json.dumps(row, indent=2, ensure_ascii=False))


@proposals_.command("approve")
@click.argument("proposal_id", type=int)
@click.option("--by", "by", required=True, help="the approving admin's e-mail (not the proposer)")
@click.option("--note", default="", help="a note kept with the decision")
@friendly
def proposals_approve(proposal_id: int, by: str, note: str) -> None:
    """Approve a proposal as the second admin: the act takes effect now."""
    with opened() as (v, db):
        p = proposals.approve(v, db, _as(db, by), proposals.get(db, proposal_id), note)
        line = f"#{p.id} {p.kind} ({proposals.describe(p)}) for {_email(db, p.subject_id)}"
    click.echo(f"approved by {by}, in force now: {line}")


@proposals_.command("reject")
@click.argument("proposal_id", type=int)
@click.option("--by", "by", required=True, help="the rejecting admin's e-mail")
@click.option("--note", required=True, help="why it is turned down")
@friendly
def proposals_reject(proposal_id: int, by: str, note: str) -> None:
    """Turn a proposal down: nothing of it happens."""
    with opened() as (v, db):
        p = proposals.reject(v, db, _as(db, by), proposals.get(db, proposal_id), note)
    click.echo(f"rejected by {by}: #{p.id} {p.kind}")


@proposals_.command("withdraw")
@click.argument("proposal_id", type=int)
@click.option("--by", "by", required=True, help="the proposer's e-mail")
@friendly
def proposals_withdraw(proposal_id: int, by: str) -> None:
    """The proposer takes their proposal back."""
    with opened() as (v, db):
        p = proposals.withdraw(v, db, _as(db, by), proposals.get(db, proposal_id))
    click.echo(f"withdrawn by {by}: #{p.id} {p.kind}")
