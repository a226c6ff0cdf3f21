"""New audit keys (``archive-vault audit rotate-keys``), under the two-person rule.

A rotation makes a new audit MAC key and checkpoint signing key in the key provider
(the key file, the HSM token or Transit) and makes them the ones new events and
checkpoints use; the old ones stay, so ``audit verify`` checks every event and
checkpoint under the key it names. One admin proposes, a second approves
(``vault.proposals``); the approval's audit event is made under the old keys, and the
new keys are made once it has committed (a crash in between leaves the old keys in use:
propose again). Other running processes of the vault take up the new keys when they
next read the provider (the key file on a restart, the token within 30 seconds).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from vault import auditing, proposals
from vault.authz import Details
from vault.caller import Caller
from vault.errors import Conflict, InvalidInput
from vault.models import Person, Proposal
from vault.policy import Action
from vault.proposals import Payload
from vault.runtime import Vault, after_commit


def _rotator(v: Vault) -> Callable[[], object]:
    keys = getattr(v.audit.keys, "provider_keys", None)
    rotate = getattr(keys, "rotate", None)
    if not callable(rotate):
        raise InvalidInput(
            "this vault's audit keys cannot be rotated from here", code="audit_rotation_unsupported"
        )
    return rotate


def _validate(v: Vault, db: Session, subject: Person | None, payload: Payload) -> Payload:
    _rotator(v)
    current = v.audit.keys.mac_key_id()
    announced = payload.get("current")
    if announced is not None and announced != current:
        raise Conflict(
            f"the audit keys were rotated since ({current} is in use): propose again",
            code="audit_keys_rotated",
        )
    return {"current": current}


def _apply(
    v: Vault,
    db: Session,
    caller: Caller,
    proposal: Proposal,
    subject: Person | None,
    payload: Payload,
) -> Details:
    rotate = _rotator(v)
    current = payload["current"]
    auditing.record(
        v,
        db,
        caller,
        Action.AUDIT_ROTATE_KEYS,
        resource={"key": current},
        details=proposals.outcome_details(proposal, caller),
    )
    after_commit(db, rotate)
    return {"key": current}


KIND = proposals.register(
    proposals.Kind(
        name="audit_rotate_keys",
        action=Action.AUDIT_ROTATE_KEYS,
        validate=_validate,
        apply=_apply,
        describe=lambda payload: str(payload.get("current", "")),
        needs_subject=False,
    )
)
