"""Route declarations: every route names the policy action it performs.

``route(bp, rule, action=..., summary=..., query=Model, body=Model, responses={...})``
registers a view and tags it; the app refuses to serve any endpoint without a tag
(fail closed), and a test lists every route and fails on an undeclared one. For the
API the same declaration names the input and output models: the route parses the
query string and body into them (after the gate, so an unauthorised caller never
learns what input an act wants) and hands them to the view as ``query=`` and
``body=``; a view returning a reply model gets it rendered with the route's success
status. The declarations also generate the OpenAPI document.

A route is the request's unit of work: the view's work is committed once when it
returns, before the response leaves; an error rolls it back in the error handler
(:mod:`vault.web.errors`), which keeps what a refusal carries (:mod:`vault.uow`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, g, request
from pydantic import BaseModel

from vault import uow
from vault.policy import Action

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Binary:
    """A non-JSON response: its media types (the content of a record, a copy, a CSV...)."""

    media_types: tuple[str, ...]
    description: str = ""


Answer = type[BaseModel] | Binary | None
# status -> what comes back: a reply model (JSON), a Binary, None (no body), or a tuple
# of these when one status has several media types (JSON or CSV).
Responses = Mapping[int, Answer | tuple[Answer, ...]]

# A path id past its 32-bit column cannot name a row, and neither database may see it
# (SQLite cannot bind past 2**63, PostgreSQL refuses an int4 past 2**31): the view gets
# an id no row has, so the id is not found, refused and audited like any unknown id.
_ID_MAX = 2**31 - 1
NO_ROW = 0  # ids start at 1 on both databases


@dataclass(frozen=True)
class RouteSpec:
    """What a route does, for the access check and the API description."""

    action: Action
    summary: str
    public: bool = False
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    responses: Responses = field(default_factory=dict)
    tags: Sequence[str] = field(default_factory=tuple)
    # Reads only (a GET of a catalogue, profile or log page): on SQLite its transaction
    # does not take the write lock. A refusal it ends in is written in a new transaction.
    read_only: bool = False

    @property
    def status(self) -> int:
        """The status of a successful call."""
        return min((s for s in self.responses if s < 300), default=200)


def route(
    bp: Blueprint,
    rule: str,
    *,
    action: Action,
    summary: str,
    methods: Sequence[str] = ("GET",),
    public: bool = False,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    responses: Responses | None = None,
    writes: bool = False,
) -> Callable[[F], F]:
    """Register ``rule`` on ``bp`` with its policy action, input and output models.

    ``writes`` marks a GET route of a read action that writes all the same (so that on
    SQLite its transaction takes the write lock up front).
    """
    spec = RouteSpec(
        action=action,
        summary=summary,
        public=public,
        query=query,
        body=body,
        responses=dict(responses or {200: None}),
        tags=(bp.name,),
        read_only=set(methods) <= {"GET", "HEAD"} and action in READ_ONLY_ACTIONS and not writes,
    )

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def endpoint(**path: Any) -> Any:
            from vault.web.api.schema import parse_body, parse_query, render
            from vault.web.context import vault

            path = {
                name: NO_ROW if isinstance(value, int) and value > _ID_MAX else value
                for name, value in path.items()
            }
            context = {"page_size_max": vault().config.page_size_max}
            kwargs: dict[str, Any] = {}
            if query is not None:
                kwargs["query"] = parse_query(query, context)
            if body is not None and request.method not in ("GET", "HEAD"):
                kwargs["body"] = parse_body(body, context)
            out = view(**path, **kwargs)
            # The request's one commit, before anything of the response leaves: if it
            # fails, the client gets the storage error and no content (fail closed).
            commit()
            if isinstance(out, BaseModel):
                return render(out, spec.status)
            return out

        endpoint.route_spec = spec  # type: ignore[attr-defined]
        bp.add_url_rule(rule, view_func=endpoint, methods=list(methods))
        return endpoint  # type: ignore[return-value]

    return decorate


# Acts whose GET routes only read: nothing of them is audited unless refused.
READ_ONLY_ACTIONS = frozenset(
    {
        Action.PUBLIC,
        Action.PROFILE_READ,
        Action.CLIENT_READ,
        Action.RECORD_READ,
        Action.ITEM_READ,
        Action.REQUEST_READ,
        Action.GRANT_READ,
        Action.NOTIFICATION_READ,
        Action.AUDIT_READ,
        Action.ALERT_READ,
        Action.STATS_READ,
        Action.PERSON_READ,
        Action.CLIENT_REVIEW_DUE,
        Action.POLICY_EXPLAIN,
    }
)


def commit() -> None:
    """Commit the request's unit of work (if it opened a session)."""
    session = g.get("db")
    if session is not None:
        uow.finish(session, None)


def spec_of(view: Callable[..., Any] | None) -> RouteSpec | None:
    """The declaration of a view, or ``None`` if it has none."""
    return getattr(view, "route_spec", None)
