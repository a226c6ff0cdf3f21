"""What an admin may know about the keys: ids, which one wraps new keys, fingerprints.

Never key material: only identifiers, counts and the audit verification key's
fingerprint (to compare with a copy kept outside the vault).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault import auditing
from vault.caller import Caller
from vault.models import Attachment, Client, Record
from vault.people import authorize
from vault.policy import Action
from vault.runtime import Vault


@dataclass(frozen=True)
class KeyStatus:
    """The key provider at a glance."""

    provider: str
    active_key_id: str
    key_ids: list[str]
    audit_key_fingerprint: str
    records: int
    clients: int
    attachments: int


def provider_status(v: Vault, db: Session, caller: Caller) -> KeyStatus:
    """The key provider's status (admins; reading it is recorded)."""
    authorize(v, db, caller, Action.KEY_STATUS)
    raw = v.keys.verify_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()
    result = KeyStatus(
        provider=v.config.key_provider,
        active_key_id=v.keys.active_key_id,
        key_ids=list(v.keys.key_ids()),
        audit_key_fingerprint=" ".join(digest[i : i + 8] for i in range(0, 32, 8)),
        records=int(db.scalar(select(func.count()).select_from(Record)) or 0),
        clients=int(db.scalar(select(func.count()).select_from(Client)) or 0),
        attachments=int(db.scalar(select(func.count()).select_from(Attachment)) or 0),
    )
    auditing.record(v, db, caller, Action.KEY_STATUS)
    db.commit()
    return result
