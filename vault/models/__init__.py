"""The vault's data model: one module per domain, one ``Base``."""

from vault.models.clients import Client, ClientKind, Relationship, Tier
from vault.models.people import ApiToken, Designation, Person, Role
from vault.models.records import Attachment, Item, Record, Section

__all__ = [
    "ApiToken",
    "Attachment",
    "Client",
    "ClientKind",
    "Designation",
    "Item",
    "Person",
    "Record",
    "Relationship",
    "Role",
    "Section",
    "Tier",
]
