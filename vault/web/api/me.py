"""The caller's own profile."""

from __future__ import annotations

from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import DayText, Reply
from vault.web.context import caller
from vault.web.routing import route


class Profile(Reply):
    """Who the caller is: roles, custody tiers, leaving date."""

    id: int
    email: str
    name: str
    roles: list[str]
    hired_on: DayText
    custodian_tiers: list[str]
    leaving_on: DayText | None


@route(
    bp,
    "/me",
    action=Action.PROFILE_READ,
    summary="The caller's own profile",
    responses={200: Profile},
)
def me() -> Profile:
    p = caller().who
    assert p is not None  # the gate lets no anonymous caller this far
    return Profile(
        id=p.id,
        email=p.email,
        name=p.name,
        roles=sorted(p.roles),
        hired_on=p.hired_on.isoformat(),
        custodian_tiers=sorted(p.tiers),
        leaving_on=p.leaving_on.isoformat() if p.leaving_on else None,
    )
