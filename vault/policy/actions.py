"""Every act the vault knows, as one enum.

Values are shaped ``resource:action`` and double as the Cedar action id and the
audit tag, so a decision, a route declaration and an audit event name an act the
same way. Keep the list sorted.
"""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """Acts the policy decides and the audit log records."""

    AUDIT_READ = "audit:read"
    AUDIT_SEAL = "audit:seal"
    AUDIT_VERIFY = "audit:verify"
    AUTH_LOGIN = "auth:login"
    CLIENT_CREATE = "client:create"
    CLIENT_READ = "client:read"
    DESIGNATION_CREATE = "designation:create"
    PERSON_CREATE = "person:create"
    PERSON_READ = "person:read"
    POLICY_EXPLAIN = "policy:explain"
    PROFILE_READ = "profile:read"
    PUBLIC = "public:read"
    RECORD_CONSULT = "record:consult"
    RECORD_DEPOSIT = "record:deposit"
    RECORD_READ = "record:read"
    TOKEN_ISSUE = "token:issue"

    @property
    def on_record(self) -> bool:
        """Acts on one record's content: decided against that record, in ``vault.access``."""
        return self in CONTENT_ACTIONS


# Acts that release record content; only vault.access performs them.
CONTENT_ACTIONS = frozenset({Action.RECORD_CONSULT})
