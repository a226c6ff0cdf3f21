"""Writing audit events in the caller's transaction, and their JSON-lines copy after commit."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from audit import Event
from vault import metrics
from vault.caller import Caller
from vault.policy import Action, Decision
from vault.runtime import DEFERRED, Vault

PENDING = "audit_pending"  # events of the open transaction, emitted after commit


def _details(
    caller: Caller, details: Mapping[str, str | int | bool | None] | None
) -> dict[str, str | int | bool | None]:
    """The event's details, with the client's own request id when it sent a plain one."""
    out = dict(details or {})
    if caller.client_request_id:
        out.setdefault("client_request_id", caller.client_request_id)
    return out


def record(
    v: Vault,
    db: Session,
    caller: Caller,
    action: Action,
    *,
    decision: Decision | None = None,
    outcome: str | None = None,
    resource: Mapping[str, object] | None = None,
    purpose: str | None = None,
    grant_id: str | None = None,
    reason: str | None = None,
    details: Mapping[str, str | int | bool | None] | None = None,
    deferred: bool = False,
) -> Event:
    """Append one event in ``db``'s transaction; if this fails, the act must fail too.

    ``deferred`` holds the insert back until the transaction commits, where it is sent
    with the COMMIT (one round trip on PostgreSQL: :func:`vault.runtime.write_deferred`): for the
    hot path, whose event is its last write. The event commits or rolls back with the
    act all the same.
    """
    ids: tuple[str, ...] = ()
    if decision is None:
        verdict, why = "n/a", reason or ""
    else:
        verdict = "allow" if decision.allowed else "deny"
        why, ids = reason or decision.reason, decision.policy_ids
    ev = Event(
        action=action.value,
        actor=caller.actor(),
        decision=verdict,
        outcome=outcome or ("ok" if decision is None or decision.allowed else "denied"),
        resource={k: str(val) for k, val in (resource or {}).items() if val is not None},
        reason=why,
        policy_ids=tuple(ids),
        purpose=purpose,
        grant_id=grant_id,
        request_id=caller.request_id,
        details=_details(caller, details),
    )
    if deferred:
        db.info.setdefault(DEFERRED, []).append(ev)
    else:
        with metrics.audit_append("inline"):
            v.audit.append(db.connection(), ev)
    db.info.setdefault(PENDING, []).append(ev)
    return ev
