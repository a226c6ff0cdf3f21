"""The vault's data model: one module per domain, one ``Base``."""

from vault.models.accounts import LocalCredential, LoginFailure
from vault.models.appraisal import (
    BatchStatus,
    DestructionCertificate,
    DisposalBatch,
    DisposalItem,
    LegalHold,
    LegalHoldRecord,
    RetentionSchedule,
)
from vault.models.background import BlobSegment, OutboxMessage
from vault.models.checks import CheckFinding, CheckRun, Property
from vault.models.clients import Client, ClientKind, Relationship, Tier
from vault.models.custody import ClientReview, Condition, ImportedRow, ItemLocation, Loan
from vault.models.grants import (
    AccessRequest,
    Alert,
    Approval,
    Grant,
    GrantAction,
    GrantedAction,
    Notification,
    QuotaOpening,
    RequestedAction,
    RequestStatus,
)
from vault.models.people import ApiToken, Designation, DesignationTier, Person, PersonRole, Role
from vault.models.policies import SitePolicy
from vault.models.proposals import Proposal, ProposalStatus
from vault.models.records import Attachment, Item, Record, Section
from vault.models.sessions import WebSession
from vault.models.settings import VaultSetting

__all__ = [
    "AccessRequest",
    "Alert",
    "ApiToken",
    "Approval",
    "Attachment",
    "BatchStatus",
    "BlobSegment",
    "CheckFinding",
    "CheckRun",
    "Client",
    "ClientKind",
    "ClientReview",
    "Condition",
    "Designation",
    "DesignationTier",
    "DestructionCertificate",
    "DisposalBatch",
    "DisposalItem",
    "Grant",
    "GrantAction",
    "GrantedAction",
    "ImportedRow",
    "Item",
    "ItemLocation",
    "LegalHold",
    "LegalHoldRecord",
    "Loan",
    "LocalCredential",
    "LoginFailure",
    "Notification",
    "OutboxMessage",
    "Person",
    "PersonRole",
    "Property",
    "Proposal",
    "ProposalStatus",
    "QuotaOpening",
    "Record",
    "Relationship",
    "RequestStatus",
    "RequestedAction",
    "RetentionSchedule",
    "Role",
    "Section",
    "SitePolicy",
    "Tier",
    "VaultSetting",
    "WebSession",
]
