"""Route declarations: every route names the policy action it performs.

``route(bp, rule, action=...)`` registers a view and tags it; the app refuses to
serve any endpoint without a tag (fail closed), and a test lists every route and
fails on an undeclared one. The tags also feed the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint

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
        view.route_spec = RouteSpec(  # type: ignore[attr-defined]
            action=action,
            summary=summary,
            public=public,
            query=query,
            body=body,
            tags=(bp.name,),
        )
        bp.add_url_rule(rule, view_func=view, methods=list(methods))
        return view

    return decorate


def spec_of(view: Callable[..., Any] | None) -> RouteSpec | None:
    """The declaration of a view, or ``None`` if it has none."""
    return getattr(view, "route_spec", None)
