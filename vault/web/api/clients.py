"""The client catalogue: search, open a client file, a client's card."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

from pydantic import Field

from vault.archive import records
from vault.models import Client
from vault.models.clients import ClientKind, Relationship
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Body, PageQuery, Reply, Tier, Timestamp, as_enum
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
    tax_id: str | None = Field(None, max_length=64, description="exact match via blind index")
    bank_account: str | None = Field(None, max_length=64, description="exact match via blind index")


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
    summary="Search the client catalogue",
    query=ClientQuery,
    responses={200: ClientPage},
)
def list_clients(query: ClientQuery) -> ClientPage:
    found = records.find_clients(
        vault(),
        db(),
        q=query.q,
        tier=query.tier,
        tax_id=query.tax_id,
        bank_account=query.bank_account,
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
