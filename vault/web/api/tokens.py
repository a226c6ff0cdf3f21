"""API tokens: one's own (list, create from a signed-in browser, revoke); an admin's
view of anyone's (list, revoke), never their values."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from vault.errors import NotFound
from vault.identity import tokens
from vault.models import ApiToken, Person
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Body, Reply, Timestamp
from vault.web.context import caller, db, vault
from vault.web.routing import route


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class TokenCard(Reply):
    """A token as anyone may see it: its name and dates, never its value."""

    id: int
    person_id: int
    label: str
    created_at: Timestamp
    revoked_at: Timestamp | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenCard:
        return cls(
            id=row.id,
            person_id=row.person_id,
            label=row.label,
            created_at=row.created_at.isoformat(),
            revoked_at=_iso(row.revoked_at),
        )


class TokenList(Reply):
    """A person's tokens, newest first."""

    items: list[TokenCard]


class NewToken(TokenCard):
    """A token just created: its value is in this answer once, and never again."""

    token: str


class TokenBody(Body):
    """The new token's name (e.g. the script that will use it)."""

    label: str = Field(min_length=1, max_length=tokens.MAX_LABEL)


@route(
    bp,
    "/me/tokens",
    action=Action.PROFILE_READ,
    summary="Your API tokens (never their values)",
    responses={200: TokenList},
)
def my_tokens() -> TokenList:
    person: Person = caller().person  # type: ignore[assignment]
    return TokenList(items=[TokenCard.of(t) for t in tokens.tokens_of(db(), person)])


@route(
    bp,
    "/me/tokens",
    action=Action.TOKEN_CREATE,
    methods=["POST"],
    summary="Create an API token of your own (signed in with a browser, not with a token)",
    body=TokenBody,
    responses={201: NewToken},
)
def my_token_create(body: TokenBody) -> NewToken:
    who = caller()
    person: Person = who.person  # type: ignore[assignment]
    value = tokens.create_token(vault(), db(), who, person, body.label)
    row = tokens.tokens_of(db(), person)[0]
    return NewToken(**dict(TokenCard.of(row)), token=value)


@route(
    bp,
    "/me/tokens/<int:token_id>/revoke",
    action=Action.TOKEN_REVOKE_OWN,
    methods=["POST"],
    summary="Revoke one of your API tokens",
    responses={200: TokenCard},
)
def my_token_revoke(token_id: int) -> TokenCard:
    return TokenCard.of(tokens.revoke_own_token(vault(), db(), caller(), token_id))


@route(
    bp,
    "/people/<int:person_id>/tokens",
    action=Action.PERSON_READ,
    summary="A person's API tokens: names and dates, never their values",
    responses={200: TokenList},
)
def person_tokens(person_id: int) -> TokenList:
    person = db().get(Person, person_id)
    if person is None:
        raise NotFound("no such person", code="person_not_found")
    return TokenList(items=[TokenCard.of(t) for t in tokens.tokens_of(db(), person)])


@route(
    bp,
    "/tokens/<int:token_id>/revoke",
    action=Action.TOKEN_REVOKE,
    methods=["POST"],
    summary="Revoke anyone's API token at once (admin)",
    responses={200: TokenCard},
)
def token_revoke(token_id: int) -> TokenCard:
    return TokenCard.of(tokens.revoke_token(vault(), db(), caller(), token_id))
