"""The one call that decides a vault-wide act and audits a denial."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from vault import auditing
from vault.caller import Caller
from vault.errors import Denied
from vault.policy import Action
from vault.runtime import Vault


def authorize(v: Vault, db: Session, caller: Caller, action: Action) -> None:
    """Decide a vault-wide act for ``caller``; a denial is audited, committed and raised."""
    if caller.person is None:
        return  # the local operator holds the keyring: the CLI acts as the installation
    decision = v.policy.decide(caller.principal(date.today()), action)
    if not decision:
        auditing.record(v, db, caller, action, decision=decision)
        db.commit()
        raise Denied(decision.message, code=decision.reason)
