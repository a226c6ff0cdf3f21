"""The vault's data model: one module per domain, one ``Base``."""

from vault.models.accounts import LocalCredential, LoginFailure
from vault.models.clients import Client, ClientKind, Relationship, Tier
from vault.models.custody import ClientReview, Condition, ImportedRow, ItemLocation, Loan
from vault.models.grants import (
    AccessRequest,
    Alert,
    Approval,
    Grant,
    GrantAction,
    Notification,
    RequestStatus,
)
from vault.models.people import ApiToken, Designation, Person, Role
from vault.models.records import Attachment, Item, Record, Section

__all__ = [
    "AccessRequest",
    "Alert",
    "ApiToken",
    "Approval",
    "Attachment",
    "Client",
    "ClientKind",
    "ClientReview",
    "Condition",
    "Designation",
    "Grant",
    "GrantAction",
    "ImportedRow",
    "Item",
    "ItemLocation",
    "Loan",
    "LocalCredential",
    "LoginFailure",
    "Notification",
    "Person",
    "Record",
    "Relationship",
    "RequestStatus",
    "Role",
    "Section",
    "Tier",
]
