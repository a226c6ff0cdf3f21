"""What an admin may know about the keys: ids, which one wraps new keys, fingerprints, and
how many data keys each key-encryption key wraps.

Never key material: only identifiers, counts and the audit verification key's
fingerprint (to compare with a copy kept outside the vault).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault import auditing
from vault.authz import require
from vault.caller import Caller
from vault.keys.rotation import WRAPPED, key_id_of
from vault.models import Attachment, Client, Record
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
    require(v, db, caller, Action.KEY_STATUS)
    # The checkpoint signing key in use (after `audit rotate-keys`, the newest).
    signer = v.audit.keys.signing_key_id()
    public = v.audit.keys.public_key(signer) if signer is not None else v.keys.verify_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
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
    return result


@dataclass(frozen=True)
class Status:
    """The key provider's status and how many data keys each KEK wraps, per kind."""

    provider: KeyStatus
    wrapped: dict[str, dict[str, int]]

    @property
    def by_provider(self) -> dict[str, int]:
        """Data keys per provider holding their KEK (``local``, ``pkcs11``, ``transit``)."""
        out: dict[str, int] = {}
        for per in self.wrapped.values():
            for key_id, n in per.items():
                out[provider_of(key_id)] = out.get(provider_of(key_id), 0) + n
        return dict(sorted(out.items()))

    @property
    def outdated(self) -> int:
        """Data keys not wrapped under the active KEK (what ``rewrap`` would take over)."""
        active = self.provider.active_key_id
        return sum(n for per in self.wrapped.values() for k, n in per.items() if k != active)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready form (ids and counts only, never key material)."""
        return {
            "provider": self.provider.provider,
            "active_key_id": self.provider.active_key_id,
            "key_ids": list(self.provider.key_ids),
            "audit_key_fingerprint": self.provider.audit_key_fingerprint,
            "wrapped_keys": self.wrapped,
            "by_provider": self.by_provider,
            "outdated": self.outdated,
        }


def provider_of(key_id: str) -> str:
    """Which provider a key id belongs to: ``pkcs11:...``, ``transit:...``, else ``local``."""
    head, sep, _ = key_id.partition(":")
    return head if sep and head in ("pkcs11", "transit") else "local"


def status(v: Vault, db: Session, caller: Caller) -> Status:
    """Key ids, the active one, and the data keys under each (admins; reading is recorded)."""
    provider = provider_status(v, db, caller)
    wrapped: dict[str, dict[str, int]] = {}
    for kind in WRAPPED:
        counts: Counter[str] = Counter()
        rows = db.execute(select(kind.column).where(kind.present).execution_options(yield_per=5000))
        for (blob,) in rows:
            counts[key_id_of(blob)] += 1
        wrapped[kind.name] = dict(sorted(counts.items()))
    return Status(provider, wrapped)
