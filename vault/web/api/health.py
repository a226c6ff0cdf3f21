"""Liveness, readiness (the same as at the root, :mod:`vault.web.health`) and this API's
description (public)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from vault.policy import Action
from vault.web import openapi as openapi_
from vault.web.api.blueprint import bp
from vault.web.api.schema import Reply
from vault.web.health import Health, Readiness, not_ready
from vault.web.routing import route


class OpenApiDocument(Reply):
    """This document (OpenAPI 3.1)."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


@route(
    bp,
    "/healthz",
    action=Action.PUBLIC,
    public=True,
    summary="Liveness",
    responses={200: Health},
)
def healthz() -> Health:
    return Health()


@route(
    bp,
    "/readyz",
    action=Action.PUBLIC,
    public=True,
    summary="Readiness: the database and the key provider answer (503 names which does not)",
    responses={200: Readiness},
)
def readyz() -> Readiness | Response:
    return not_ready() or Readiness()


@route(
    bp,
    "/openapi.json",
    action=Action.PUBLIC,
    public=True,
    summary="This API's description",
    responses={200: OpenApiDocument},
)
def openapi() -> Response:
    return jsonify(openapi_.document())
