"""Tamper-evident audit log: events with a MAC, a hash chain and signed checkpoints.

Standalone: imports nothing from Flask or ``vault``. See ``audit.log`` for the design.
"""

from audit.events import Actor, Event, canonical_json
from audit.log import (
    MAX_QUERY_LIMIT,
    AuditLog,
    EventCheck,
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
    drop_append_only_ddl,
    metadata,
)

__all__ = [
    "MAX_QUERY_LIMIT",
    "Actor",
    "AuditLog",
    "Event",
    "EventCheck",
    "VerifyReport",
    "append_only_ddl",
    "audit_chain",
    "audit_checkpoints",
    "audit_events",
    "canonical_json",
    "chain_hash",
    "checkpoint_message",
    "drop_append_only_ddl",
    "metadata",
    "query_events",
]
