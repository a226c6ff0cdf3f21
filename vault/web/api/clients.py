"""The client catalogue: search, open a client file, a client's card, sensitive lookups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from vault.archive import lookups, records
from vault.models import Client
from vault.models.clients import ClientKind, Relationship
from vault.oversight import pages
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Body, PageQuery, Reply, Tier, Timestamp, as_enum, refuse
from vault.web.context import caller, db, vault
from vault.web.routing import route


class ClientCard(Reply):
    """A client's catalogue entry (sensitive fields never leave, not even encrypted)."""

    id: int
    code: str
    name: str
    tier: str
    kind: str
    relationship: str
    has_tax_id: bool
    has_bank_account: bool
    created_at: Timestamp

    @classmethod
    def of(cls, c: Client) -> ClientCard:
        return cls(
            id=c.id,
            code=c.code,
            name=c.name,
            tier=c.tier,
            kind=c.kind,
            relationship=c.relationship,
            has_tax_id=c.tax_id_ct is not None,
            has_bank_account=c.bank_account_ct is not None,
            created_at=c.created_at.isoformat(),
        )


class ClientPage(Reply):
    """One page of clients."""

    items: list[ClientCard]
    limit: int
    offset: int


class ClientQuery(PageQuery):
    """Filters of the client catalogue."""

    q: str | None = Field(None, max_length=200, description="name or code contains")
    tier: Tier | None = Field(None, description="core|special|general")


class LookupBody(Body):
    """An exact search by one sensitive field, sent in the body (never in a URL)."""

    tax_id: str | None = Field(None, min_length=1, max_length=64, description="exact match")
    bank_account: str | None = Field(None, min_length=1, max_length=64, description="exact match")

    @model_validator(mode="after")
    def _one_field(self) -> LookupBody:
        if (self.tax_id is None) == (self.bank_account is None):
            raise refuse("invalid_lookup", "send exactly one of tax_id, bank_account")
        return self

    @property
    def by(self) -> str:
        """The field searched."""
        return "tax_id" if self.tax_id is not None else "bank_account"

    @property
    def value(self) -> str:
        """The value searched for."""
        return self.tax_id if self.tax_id is not None else (self.bank_account or "")


class LookupReply(Reply):
    """The clients of the caller's tiers whose field matches (none is the same answer
    whether no client has the value or it belongs to a client of another tier)."""

    by: str
    items: list[ClientCard]


class NewClient(Body):
    """A client file to open."""

    codes: ClassVar[Mapping[str, str]] = {"code": "invalid_client_code"}

    code: str = Field(max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_]{1,31}$")
    name: str = Field(min_length=1, max_length=200)
    tier: Tier
    kind: Annotated[ClientKind, as_enum(ClientKind)] = ClientKind.COMPANY
    relationship: Annotated[Relationship, as_enum(Relationship)] = Relationship.ACTIVE
    tax_id: str | None = Field(None, max_length=64)
    bank_account: str | None = Field(None, max_length=64)


@route(
    bp,
    "/clients",
    action=Action.CLIENT_READ,
    summary="Search the client catalogue (each page counts against the page quota)",
    query=ClientQuery,
    responses={200: ClientPage},
    writes=True,
)
def list_clients(query: ClientQuery) -> ClientPage:
    pages.read_page(vault(), db(), caller(), Action.CLIENT_READ, offset=query.offset)
    found = records.find_clients(
        vault(),
        db(),
        q=query.q,
        tier=query.tier,
        limit=query.limit,
        offset=query.offset,
    )
    return ClientPage(
        items=[ClientCard.of(c) for c in found], limit=query.limit, offset=query.offset
    )


@route(
    bp,
    "/clients",
    action=Action.CLIENT_CREATE,
    methods=["POST"],
    summary="Open a client file",
    body=NewClient,
    responses={201: ClientCard},
)
def create_client(body: NewClient) -> ClientCard:
    client = records.create_client(
        vault(),
        db(),
        caller(),
        code=body.code,
        name=body.name,
        tier=body.tier,
        kind=body.kind.value,
        relationship=body.relationship.value,
        tax_id=body.tax_id,
        bank_account=body.bank_account,
    )
    return ClientCard.of(client)


@route(
    bp,
    "/clients/<int:client_id>",
    action=Action.CLIENT_READ,
    summary="A client's card",
    responses={200: ClientCard},
)
def get_client(client_id: int) -> ClientCard:
    return ClientCard.of(records.get_client(db(), client_id))


@route(
    bp,
    "/clients/lookup",
    action=Action.CLIENT_LOOKUP,
    methods=["POST"],
    summary="Find a client by tax id or bank account (custodians; audited, counted)",
    body=LookupBody,
    responses={200: LookupReply},
)
def lookup_clients(body: LookupBody) -> LookupReply:
    found = lookups.lookup_clients(vault(), db(), caller(), by=body.by, value=body.value)
    return LookupReply(by=body.by, items=[ClientCard.of(c) for c in found])
