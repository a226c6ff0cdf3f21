"""The Flask application: ``create_app`` is the only way to build it."""

from __future__ import annotations

import uuid

import structlog
from flask import Flask, g, request

from vault.appraisal import retention
from vault.caller import client_request_id
from vault.config import Config
from vault.errors import InvalidInput
from vault.runtime import Vault
from vault.web import api, auth, errors, gate, headers, health, i18n, metrics, sensitive, ui
from vault.worker.process import Scheduler, app_jobs


def create_app(config: Config | None = None, *, vault: Vault | None = None) -> Flask:
    """Build the app from ``config`` (default: ``VAULT_*`` environment variables).

    Outside tests it refuses to start without a secret key, a database and keys.
    """
    config = config or Config.from_env()
    secret = config.load_secret_key()
    if not secret and not config.testing:
        raise InvalidInput(
            "no secret key: set VAULT_SECRET_KEY or run 'archive-vault init'", code="no_secret_key"
        )
    # A bad retention schedule stops the vault here, with the first problem named.
    retention.check_configured(config)
    app = Flask(__name__, static_folder=None)  # the stylesheet has a declared route
    app.config.update(
        SECRET_KEY=secret or "testing-only-secret",
        MAX_CONTENT_LENGTH=config.max_request_bytes,
        SESSION_COOKIE_NAME="vault_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
        TESTING=config.testing,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["vault"] = vault or Vault.open(config)
    if config.background == "app":
        # No worker deployed: the worker's scheduled jobs (mail, reminders, expiry, the
        # departure watch's alerts) run in each process's background thread, the leader's
        # jobs in one process at a time.
        app.extensions["vault"].add_tick(Scheduler(app.extensions["vault"], app_jobs()).tick)

    @app.before_request
    def _bind_request() -> None:
        app.extensions["vault"].start_sealer()
        # The request id is always the server's own; a client's X-Request-Id is kept, in
        # its own field, only when it is short and plain (never as the request id).
        g.request_id = uuid.uuid4().hex
        g.client_request_id = client_request_id(request.headers.get("X-Request-Id"))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)
        if g.client_request_id:
            structlog.contextvars.bind_contextvars(client_request_id=g.client_request_id)

    # First: its clock starts before the other hooks run.
    metrics.init_app(app, config.metrics_token)
    sensitive.init_app(app)
    errors.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    gate.init_app(app)
    app.register_blueprint(health.bp)
    api.init_app(app)
    ui.init_app(app)
    if config.bench_baseline:
        from vault.web import bench  # benchmarks only: never registered in production

        app.register_blueprint(bench.bp)

    headers.init_app(app)

    @app.teardown_appcontext
    def _close_db(_exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    return app
