"""Route declarations: every route names the policy action it performs.

``route(bp, rule, action=...)`` registers a view and tags it; the app refuses to
serve any endpoint without a tag (fail closed), and a test lists every route and
fails on an undeclared one. The tags also feed the OpenAPI document.

A route is the request's unit of work: the view's work is committed once when it
returns, before the response leaves; an error rolls it back in the error handler
(:mod:`vault.web.errors`), which keeps what a refusal carries (:mod:`vault.uow`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, g

from vault import uow
from vault.policy import Action

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RouteSpec:
    """What a route does, for the access check and the API description."""

    action: Action
    summary: str
    public: bool = False
    query: Sequence[tuple[str, str, str]] = ()  # (name, type, description)
    body: dict[str, Any] | None = None
    tags: Sequence[str] = field(default_factory=tuple)


def route(
    bp: Blueprint,
    rule: str,
    *,
    action: Action,
    summary: str,
    methods: Sequence[str] = ("GET",),
    public: bool = False,
    query: Sequence[tuple[str, str, str]] = (),
    body: dict[str, Any] | None = None,
) -> Callable[[F], F]:
    """Register ``rule`` on ``bp`` with its policy action (and whether it is public)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def unit_of_work(*args: Any, **kwargs: Any) -> Any:
            # The request's one commit, before anything of the response leaves: if it
            # fails, the client gets the storage error and no content (fail closed).
            result = view(*args, **kwargs)
            commit()
            return result

        unit_of_work.route_spec = RouteSpec(  # type: ignore[attr-defined]
            action=action,
            summary=summary,
            public=public,
            query=query,
            body=body,
            tags=(bp.name,),
        )
        bp.add_url_rule(rule, view_func=unit_of_work, methods=list(methods))
        return view

    return decorate


def commit() -> None:
    """Commit the request's unit of work (if it opened a session)."""
    session = g.get("db")
    if session is not None:
        uow.finish(session, None)


def spec_of(view: Callable[..., Any] | None) -> RouteSpec | None:
    """The declaration of a view, or ``None`` if it has none."""
    return getattr(view, "route_spec", None)
