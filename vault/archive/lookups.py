"""Sensitive lookups: an exact search of the client files by tax id or bank account.

Whether a guessed tax id belongs to a client is itself a secret, so a lookup is an act
of its own (``client:lookup``), never a catalogue filter:

1. the caller's right is decided before anything is searched, for each tier in turn
   (custody of the tier in effect, the export quota, the hard lines): a refusal
   therefore says the same whether or not the value matches a client;
2. the blind index is searched among clients of the tiers the caller holds only: a
   client of another tier looks exactly like no client at all;
3. every lookup is audited, allowed or refused, naming the field searched ("by") and
   never the value nor its blind index; an allowed lookup counts as one unit against
   the export quota, like opening a record.

The value travels in a request body, never in a URL (``vault.web.sensitive``).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import access, auditing, authz
from vault.caller import Caller
from vault.config import TIERS
from vault.errors import Denied, InvalidInput, Keep
from vault.models import Client
from vault.policy import Action, Decision, Target
from vault.runtime import Vault

FIELDS = ("tax_id", "bank_account")
MAX_VALUE = 64


def lookup_clients(v: Vault, db: Session, caller: Caller, *, by: str, value: str) -> list[Client]:
    """Clients whose ``by`` field is exactly ``value`` (after normalisation), among the
    tiers the caller holds custody of; refused before any search otherwise."""
    if by not in FIELDS:
        raise InvalidInput(f"look up by one of: {', '.join(FIELDS)}", code="invalid_lookup")
    details: dict[str, str | int | bool | None] = {"by": by}
    quota = access.lookup_quota(v, db, caller)
    principal = caller.principal(date.today())
    decisions = {
        tier: v.policy.decide(
            principal,
            Action.CLIENT_LOOKUP,
            Target(record_id=None, client_id=0, tier=tier),
            quota_exceeded=quota.exceeded if quota else False,
            is_requester=False,
        )
        for tier in TIERS
    }
    tiers = sorted(tier for tier, d in decisions.items() if d)
    if not tiers:
        decision = _telling(decisions, principal.custodian_tiers)
        keep: list[Keep] = [
            authz.refusal(v, caller, Action.CLIENT_LOOKUP, decision, details=details)
        ]
        if decision.reason == "export_quota_exceeded" and quota is not None:
            crossed = quota

            def alert(session: Session) -> None:
                access.quota_crossed(
                    v, session, caller, crossed, f"looking up a client by {by}", lookup=by
                )

            keep.append(alert)
        raise Denied(decision.message, code=decision.reason, keep=keep)
    if len(value) > MAX_VALUE:
        raise InvalidInput(f"{by} is too long", code=f"invalid_{by}")
    column = Client.tax_id_bidx if by == "tax_id" else Client.bank_account_bidx
    indexes = v.indexes(value, purpose=f"client.{by}")
    found = list(
        db.scalars(
            select(Client)
            .where(column.in_(indexes), Client.tier.in_(tiers))
            .order_by(Client.code)
            .limit(v.config.page_size_max)
        )
    )
    auditing.record(
        v,
        db,
        caller,
        Action.CLIENT_LOOKUP,
        decision=decisions[tiers[0]],
        resource={"client": found[0].id if len(found) == 1 else None},
        details={**details, "found": len(found)},
    )
    return found


def _telling(decisions: dict[str, Decision], designated: frozenset[str]) -> Decision:
    """The refusal to give when no tier allows: a hard line if one matched, else the
    reason for a tier the caller is designated for (tenure too short), else the first."""
    for d in decisions.values():
        if d.policy_ids:
            return d
    for tier, d in decisions.items():
        if tier in designated:
            return d
    return next(iter(decisions.values()))
