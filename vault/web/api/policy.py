"""Policy explanations (admins, auditors)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import Field

from vault import access
from vault.errors import NotFound
from vault.models import Person
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Id, Query, Reply
from vault.web.context import db, vault
from vault.web.routing import route


class ExplainQuery(Query):
    """Whose decision, for which act and record."""

    person_id: Id = Field(description="who")
    action: Action = Field(description="e.g. record:consult")
    record_id: Id | None = Field(None, description="which record")


class Explanation(Reply):
    """A decision as ``policy explain`` shows it."""

    person: str
    action: str
    record_id: int | None
    allowed: bool
    reason: str
    message: str
    policy_ids: list[str]
    facts: dict[str, Any]


@route(
    bp,
    "/policy/explain",
    action=Action.POLICY_EXPLAIN,
    summary="Explain the decision for a person, action and record (admins, auditors)",
    query=ExplainQuery,
    responses={200: Explanation},
)
def explain(query: ExplainQuery) -> Explanation:
    person = db().get(Person, query.person_id)
    if person is None:
        raise NotFound("no such person", code="person_not_found")
    got = access.explain(vault(), db(), person, query.action, query.record_id)
    return Explanation.model_validate(asdict(got))
