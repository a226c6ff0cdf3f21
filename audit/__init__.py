"""Tamper-evident audit log: events with a MAC, a hash chain, a Merkle tree and signed
checkpoints, witnessed outside the database and provable to a third party.

Standalone: imports nothing from Flask or ``vault``. See ``audit.log`` for the design.
"""

from audit.bundle import BundleResult, load_public_key, verify_bundle
from audit.events import Actor, Event, canonical_json
from audit.hashing import ALGORITHMS, DEFAULT_ALGORITHM
from audit.keys import LEGACY_KEY_ID, AuditKeys, LocalAuditKeys, UnknownAuditKey, public_key_hex
from audit.log import (
    MAX_QUERY_LIMIT,
    AuditLog,
    EventCheck,
    ProofError,
    VerifyReport,
    chain_hash,
    checkpoint_message,
    query_events,
)
from audit.schema import (
    append_only_ddl,
    audit_chain,
    audit_checkpoints,
    audit_events,
    audit_tree,
    drop_append_only_ddl,
    metadata,
)
from audit.witness import DirectoryWitness, Witness, WitnessConflict

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "LEGACY_KEY_ID",
    "MAX_QUERY_LIMIT",
    "Actor",
    "AuditKeys",
    "AuditLog",
    "BundleResult",
    "DirectoryWitness",
    "Event",
    "EventCheck",
    "LocalAuditKeys",
    "ProofError",
    "UnknownAuditKey",
    "VerifyReport",
    "Witness",
    "WitnessConflict",
    "append_only_ddl",
    "audit_chain",
    "audit_checkpoints",
    "audit_events",
    "audit_tree",
    "canonical_json",
    "chain_hash",
    "checkpoint_message",
    "drop_append_only_ddl",
    "load_public_key",
    "metadata",
    "public_key_hex",
    "query_events",
    "verify_bundle",
]
