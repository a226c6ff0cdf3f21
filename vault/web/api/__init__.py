"""The JSON API under ``/api/v1``."""

from __future__ import annotations

from flask import Flask

from vault.web.api import custody, grants, keys, views  # noqa: F401 - register the routes on bp
from vault.web.api.blueprint import bp


def init_app(app: Flask) -> None:
    """Mount the API."""
    app.register_blueprint(bp)
