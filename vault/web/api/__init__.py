"""The JSON API under ``/api/v1``: one module per resource, each declaring its routes with
their policy action and their pydantic models (:mod:`vault.web.api.schema`)."""

from __future__ import annotations

from flask import Flask

from vault.web.api import (  # noqa: F401 - register the routes on bp
    access_requests,
    alerts,
    appraisal,
    attachments,
    audit,
    clients,
    disposal,
    grants,
    health,
    items,
    keys,
    loans,
    me,
    notifications,
    people,
    policy,
    proposals,
    records,
    reviews,
    sessions,
    stats,
    tokens,
)
from vault.web.api.blueprint import bp


def init_app(app: Flask) -> None:
    """Mount the API."""
    app.register_blueprint(bp)
