"""The one call that decides an act through Cedar and refuses it with its audit event.

Every service asks :func:`require` before it acts: the policy decides (deny by
default), and a denial raises :class:`~vault.errors.Denied` carrying its audit event
(and whatever else the refusal must leave, such as an alert). The boundary rolls
the act back and writes what the refusal carries in its own short transaction
(:mod:`vault.uow`), so a denied act is always logged and never half done.

Content (consultation, copies, lending) is decided here too, by :mod:`vault.access`,
which adds the record's grants and the export quota to the question.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from audit import Event
from vault import auditing
from vault.caller import Caller
from vault.errors import Denied, VaultError
from vault.policy import Action, Decision, Target
from vault.runtime import Vault

Details = Mapping[str, str | int | bool | None]


def decide(
    v: Vault,
    caller: Caller,
    action: Action,
    target: Target | None = None,
    *,
    is_requester: bool = True,
    **context: Any,
) -> Decision:
    """The policy's decision for ``caller`` doing ``action`` (on ``target``), recording nothing."""
    return v.policy.decide(
        caller.principal(date.today()), action, target, is_requester=is_requester, **context
    )


def refusal(
    v: Vault,
    caller: Caller,
    action: Action,
    decision: Decision | None = None,
    *,
    reason: str | None = None,
    outcome: str | None = None,
    resource: Mapping[str, object] | None = None,
    purpose: str | None = None,
    details: Details | None = None,
) -> Callable[[Session], Event]:
    """What the boundary writes for a refused act: its audit event, after the rollback."""

    def keep(db: Session) -> Event:
        return auditing.record(
            v,
            db,
            caller,
            action,
            decision=decision,
            outcome=outcome or ("denied" if decision is None else None),
            reason=reason,
            resource=resource,
            purpose=purpose,
            details=details,
        )

    return keep


def require(
    v: Vault,
    db: Session,
    caller: Caller,
    action: Action,
    target: Target | None = None,
    *,
    resource: Mapping[str, object] | None = None,
    details: Details | None = None,
    purpose: str | None = None,
    is_requester: bool = True,
    audited: bool = False,
    decision: Decision | None = None,
    on_denial: Sequence[Callable[[Session], object]] = (),
    **context: Any,
) -> Event | None:
    """Decide ``action`` for ``caller``; on a denial raise ``Denied`` carrying its audit event.

    Args:
        target: the client file or record the act is on; ``None`` for a vault-wide act,
            which the local operator (who holds the key file) may always do.
        audited: also record an allowed decision, in the act's own transaction, and
            return its event (custody acts log every attempt, not only refusals).
        decision: an answer already obtained (e.g. with facts only the caller had).
        on_denial: further work a denial keeps (alerts), run after its audit event.

    Raises:
        Denied: with ``code`` = the policy's reason; nothing of the act is kept.
    """
    if target is None and caller.person_id is None and decision is None:
        return None  # the local operator holds the keyring: the CLI acts as the installation
    if decision is None:
        decision = decide(v, caller, action, target, is_requester=is_requester, **context)
    if not decision:
        keep = refusal(
            v, caller, action, decision, resource=resource, purpose=purpose, details=details
        )
        raise Denied(decision.message, code=decision.reason, keep=(keep, *on_denial))
    if audited:
        return auditing.record(
            v,
            db,
            caller,
            action,
            decision=decision,
            resource=resource,
            purpose=purpose,
            details=details,
        )
    return None


def refuse(
    error: Exception,
    v: Vault,
    caller: Caller,
    action: Action,
    *,
    resource: Mapping[str, object] | None = None,
    purpose: str | None = None,
    outcome: str = "denied",
    details: Details | None = None,
) -> Exception:
    """Attach to ``error`` the audit event of a refused act (reason = the error's code)."""
    code = error.code if isinstance(error, VaultError) else type(error).__name__
    keep = refusal(
        v,
        caller,
        action,
        reason=code,
        outcome=outcome,
        resource=resource,
        purpose=purpose,
        details=details,
    )
    if isinstance(error, VaultError):
        error.keep = (keep, *error.keep)
    return error
