"""Health at the root, for load balancers and orchestrators (public, never audited).

``/healthz`` is liveness: the process answers; it touches neither the database nor the
keys. ``/readyz`` is readiness: the database answers a query and the key provider can be
used (its active key id is read, which reaches the HSM or Transit server). A dependency
that fails gives 503 with a problem document naming which one
(``database_unavailable`` or ``key_provider_unavailable``), never the error's text (it
could carry a URL, a PIN or a token). ``/api/v1/healthz`` and ``/api/v1/readyz`` answer
the same. gunicorn's access log leaves them out while they answer 2xx
(:class:`vault.web.server.QuietLogger`); a failing probe is logged.
"""

from __future__ import annotations

from typing import Literal

import structlog
from flask import Blueprint, Response
from sqlalchemy import text

from vault.policy import Action
from vault.web.api.schema import Reply
from vault.web.context import vault
from vault.web.errors import problem
from vault.web.routing import route

bp = Blueprint("health", __name__)


class Health(Reply):
    """The process is up."""

    status: Literal["ok"] = "ok"


class Readiness(Reply):
    """The database and the key provider answer."""

    status: Literal["ready"] = "ready"


def not_ready() -> Response | None:
    """A 503 problem naming the dependency that does not answer, or ``None`` if ready."""
    v = vault()
    log = structlog.get_logger("vault")
    try:
        with v.read_sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        log.error("readiness: database unavailable", exc_type=type(exc).__name__)
        return problem(
            503,
            "database_unavailable",
            "Service unavailable",
            "the database does not answer",
            dependency="database",
        )
    try:
        v.keys.active_key_id  # noqa: B018 - reading it is the check
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        log.error("readiness: key provider unavailable", exc_type=type(exc).__name__)
        return problem(
            503,
            "key_provider_unavailable",
            "Service unavailable",
            f"the key provider ({v.config.key_provider}) cannot be used",
            dependency="key_provider",
        )
    return None


@route(
    bp,
    "/healthz",
    action=Action.PUBLIC,
    public=True,
    summary="Liveness: the process answers (no database, no keys)",
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
