"""Every act the vault knows, as one enum.

Values are shaped ``resource:verb`` and double as the Cedar action id and the
audit tag, so a decision, a route declaration and an audit event name an act the
same way. Keep the list sorted.
"""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """Acts the policy decides and the audit log records."""

    ACCOUNT_PASSWORD = "account:password"
    ACCOUNT_TOTP = "account:totp"
    ALERT_READ = "alert:read"
    AUDIT_EXPORT = "audit:export"
    AUDIT_PATTERNS = "audit:patterns"
    AUDIT_READ = "audit:read"
    AUDIT_ROTATE_KEYS = "audit:rotate_keys"
    AUDIT_VERIFY = "audit:verify"
    AUTH_LOCKOUT = "auth:lockout"
    AUTH_LOGIN = "auth:login"
    AUTH_LOGOUT = "auth:logout"
    CHECK_READ = "check:read"
    CHECK_RUN = "check:run"
    CLIENT_CREATE = "client:create"
    CLIENT_DOSSIER = "client:dossier"
    CLIENT_END = "client:end_relationship"
    CLIENT_IMPORT = "client:import"
    CLIENT_LOOKUP = "client:lookup"
    CLIENT_READ = "client:read"
    CLIENT_REVIEW = "client:review"
    CLIENT_REVIEW_DUE = "client:review_due"
    DEPARTURE_CHANGE = "departure:change"
    DEPARTURE_REPORT = "report:departure"
    DESIGNATION_CREATE = "designation:create"
    GRANT_EXPIRE = "grant:expire"
    DISPOSAL_APPROVE = "disposal:approve"
    DISPOSAL_CARRY_OUT = "disposal:carry_out"
    DISPOSAL_COUNTERSIGN = "disposal:countersign"
    DISPOSAL_PROPOSE = "disposal:propose"
    DISPOSAL_READ = "disposal:read"
    DISPOSAL_REJECT = "disposal:reject"
    GRANT_ISSUE = "grant:issue"
    GRANT_READ = "grant:read"
    GRANT_REVOKE = "grant:revoke"
    GUARD_ALERT = "guard:alert"
    HOLD_LIFT = "hold:lift"
    HOLD_PLACE = "hold:place"
    ITEM_BORROW = "item:borrow"
    ITEM_CHECKIN = "item:checkin"
    ITEM_CHECKOUT = "item:checkout"
    ITEM_CREATE = "item:create"
    ITEM_READ = "item:read"
    ITEM_REMIND = "item:remind"
    ITEM_RENEW = "item:renew"
    KEY_RETIRE = "key:retire"
    KEY_REWRAP = "key:rewrap"
    KEY_ROTATE = "key:rotate"
    KEY_STATUS = "key:status"
    NOTIFICATION_READ = "notification:read"
    PERSON_CREATE = "person:create"
    PERSON_DEPART = "person:depart"
    PERSON_HIRE_DATE = "person:hire_date"
    PERSON_READ = "person:read"
    PERSON_UPDATE = "person:update"
    POLICY_EXPLAIN = "policy:explain"
    POLICY_LOAD = "policy:load"
    POLICY_WHY = "policy:why"
    PORTFOLIO_READ = "portfolio:read"
    PROFILE_READ = "profile:read"
    PROPOSAL_APPROVE = "proposal:approve"
    PROPOSAL_CREATE = "proposal:create"
    PROPOSAL_EXPIRE = "proposal:expire"
    PROPOSAL_READ = "proposal:read"
    PROPOSAL_REJECT = "proposal:reject"
    PROPOSAL_WITHDRAW = "proposal:withdraw"
    PUBLIC = "public:read"
    RECORD_ATTACH = "record:attach"
    RECORD_CHECK = "record:check"
    RECORD_CONSULT = "record:consult"
    RECORD_COPY = "record:copy"
    RECORD_DEPOSIT = "record:deposit"
    RECORD_READ = "record:read"
    REGISTER_READ = "register:read"
    REQUEST_APPROVE = "request:approve"
    REQUEST_CREATE = "request:create"
    REQUEST_DENY = "request:deny"
    REQUEST_EXPIRE = "request:expire"
    REQUEST_READ = "request:read"
    REQUEST_WITHDRAW = "request:withdraw"
    RETENTION_DATES = "retention:dates"
    RETENTION_LOAD = "retention:load"
    RETENTION_READ = "retention:read"
    REVIEW_CLEAR = "review:clear"
    ROLE_GRANT = "role:grant"
    SESSION_REVOKE = "session:revoke"
    STATS_READ = "stats:read"
    TOKEN_CREATE = "token:create"
    TOKEN_ISSUE = "token:issue"
    TOKEN_REVOKE = "token:revoke"
    TOKEN_REVOKE_OWN = "token:revoke_own"
    VAULT_BACKUP = "vault:backup"
    VAULT_RESTORE = "vault:restore"

    @property
    def on_record(self) -> bool:
        """Acts on one record's content: decided against that record, in ``vault.access``."""
        return self in CONTENT_ACTIONS

    @property
    def proposed(self) -> bool:
        """Acts under the two-person rule: one admin proposes, a second approves."""
        return self in PROPOSED_ACTIONS

    @property
    def on_target(self) -> bool:
        """Acts decided against a record or client file rather than the vault as a whole."""
        return self in CONTENT_ACTIONS or self in CUSTODY_ACTIONS or self in LOOKUP_ACTIONS

    @property
    def about_person(self) -> bool:
        """Questions about a person's decisions: anyone's own, admins' and auditors' about
        others; decided with whether the question is about the caller (``is_self``)."""
        return self in QUESTION_ACTIONS

    @property
    def on_self(self) -> bool:
        """Acts on a person's own credentials, decided with whether it is the caller's."""
        return self in SELF_ACTIONS


# Acts that release record content; only vault.access performs them.
# ITEM_BORROW is the borrower's side of a loan: taking the item is opening its content.
CONTENT_ACTIONS = frozenset({Action.RECORD_CONSULT, Action.RECORD_COPY, Action.ITEM_BORROW})

# Custodian acts on a request's target (a record or a client file).
# Reviews, items and loans are custodians' acts on a client file or a record.
CUSTODY_ACTIONS = frozenset(
    {
        Action.REQUEST_APPROVE,
        Action.REQUEST_DENY,
        Action.GRANT_REVOKE,
        Action.CLIENT_REVIEW,
        Action.ITEM_CREATE,
        Action.ITEM_CHECKOUT,
        Action.ITEM_CHECKIN,
        Action.ITEM_RENEW,
        Action.RECORD_ATTACH,
        Action.CLIENT_DOSSIER,
        Action.HOLD_PLACE,
        Action.DISPOSAL_PROPOSE,
        Action.DISPOSAL_COUNTERSIGN,
        Action.CLIENT_END,
    }
)

# Acts a person does to their own credentials only (context ``is_self``, ``by_token``).
# ``token:issue`` is the operator's alone (the CLI on the server): no rule permits it.
# Changing one's own password or one-time code is the person's alone too: an admin
# resets someone else's through the operator's path (``person:update``), never these.
SELF_ACTIONS = frozenset(
    {Action.TOKEN_CREATE, Action.TOKEN_REVOKE_OWN, Action.ACCOUNT_PASSWORD, Action.ACCOUNT_TOTP}
)

# Of those, the acts on one's own local account (password, one-time code).
ACCOUNT_ACTIONS = frozenset({Action.ACCOUNT_PASSWORD, Action.ACCOUNT_TOTP})

# "Why can't I / why can they": a decision explained, for oneself or (admins, auditors)
# for someone else (context ``is_self``).
QUESTION_ACTIONS = frozenset({Action.POLICY_WHY})

# What each grant action lets its holder do (grants name these, not Cedar actions).
GRANT_ACTIONS = {
    "consult": Action.RECORD_CONSULT,
    "copy": Action.RECORD_COPY,
    "lend": Action.ITEM_BORROW,
}

# Acts under the two-person rule (DESIGN §3.10): decided once when an admin proposes
# and again when a second admin approves, with the context flags of ProposalContext
# (vault.cedarschema) so that the policy, a site policy included, sees who is who.
PROPOSED_ACTIONS = frozenset(
    {
        Action.DESIGNATION_CREATE,
        Action.PERSON_HIRE_DATE,
        Action.ROLE_GRANT,
        Action.DEPARTURE_CHANGE,
        Action.KEY_RETIRE,
        Action.AUDIT_ROTATE_KEYS,
        Action.POLICY_LOAD,
        Action.HOLD_LIFT,
        Action.RETENTION_LOAD,
    }
)

# Deciding a disposal batch as an admin: vault-wide, with whether the acting person
# proposed it (context ``is_proposer``; nobody approves their own batch).
BATCH_ACTIONS = frozenset({Action.DISPOSAL_APPROVE, Action.DISPOSAL_REJECT})

# An exact search by a sensitive field (tax id, bank account): decided per tier against
# the client file, like custody, and counted against the export quota like opening a record.
LOOKUP_ACTIONS = frozenset({Action.CLIENT_LOOKUP})
