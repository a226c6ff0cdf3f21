"""Liveness, readiness and this API's description (public)."""

from __future__ import annotations

from typing import Any, Literal

from flask import Response, jsonify
from sqlalchemy import text

from vault.errors import Unavailable
from vault.policy import Action
from vault.web import openapi as openapi_
from vault.web.api.blueprint import bp
from vault.web.api.schema import Reply
from vault.web.context import db, vault
from vault.web.routing import route


class Health(Reply):
    """The process is up."""

    status: Literal["ok"] = "ok"


class Readiness(Reply):
    """The database and the key provider answer."""

    status: Literal["ready"] = "ready"


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
    summary="Readiness: database and keys",
    responses={200: Readiness},
)
def readyz() -> Readiness:
    try:
        db().execute(text("SELECT 1"))
        vault().keys.secret("audit-mac")
    except Exception:  # noqa: BLE001 - any failure means not ready
        raise Unavailable("database or key provider unavailable", code="not_ready") from None
    return Readiness()


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
